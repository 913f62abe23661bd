"""An adapter from outside coder-tui, as a user or a plugin would add one for a new CLI.

It drives coder-tui's fake agent, under another name and with its own reading of the fake
agent's hooks: the reply comes from the fake agent's transcript (one ``{"role", "text"}`` JSON
line per prompt and reply, named by every payload's ``transcript_path``), not from the Stop
hook's text. Importing this module registers it, in the test process and in the hook process
(which the hook command tells to import it).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from coder_tui.core.agents.adapters import (
    CliAdapter,
    HookEventKind,
    HookInstall,
    HookRecord,
    LaunchContext,
    NormalizedHookEvent,
    register_adapter,
)

NAME = "fake-transcript"


class TranscriptFakeAdapter(CliAdapter):
    name = NAME

    def install(self, launch: LaunchContext) -> HookInstall:
        return HookInstall(
            args=["--hook-command", shlex.join(launch.hook)],
            notes=[f"{launch.agent}: hooks by {NAME} from the test tree"],
        )

    def normalize(self, record: HookRecord) -> NormalizedHookEvent | None:
        payload = self.payload(record)
        if payload is None:
            return None
        name = record.get("event")
        if name == "SessionStart":
            return self.event(HookEventKind.SESSION_STARTED, record, payload)
        if name == "UserPromptSubmit":
            prompt = str(payload.get("prompt", ""))
            return self.event(HookEventKind.PROMPT_ACCEPTED, record, payload, prompt=prompt)
        if name == "Stop":
            transcript = payload.get("transcript_path")
            reply = self.read_transcript(Path(str(transcript))) if transcript else None
            return self.event(HookEventKind.TURN_ENDED, record, payload, reply=reply)
        if name == "Notification" and payload.get("notification_type") == "permission_prompt":
            detail = str(payload.get("message", ""))
            return self.event(HookEventKind.APPROVAL_REQUESTED, record, payload, detail=detail)
        return self.event(HookEventKind.OTHER, record, payload)

    def read_transcript(self, path: Path) -> str | None:
        """The last reply after the last prompt, or None (no reply yet, or no file)."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        reply: str | None = None
        for line in lines:
            entry = json.loads(line)
            if entry.get("role") == "user":
                reply = None
            elif entry.get("role") == "assistant":
                reply = str(entry.get("text", ""))
        return reply


ADAPTER = register_adapter(TranscriptFakeAdapter())
