"""Codex CLI: ``-c`` overrides for one launch (hooks with their trust record, notify, project
trust), and its two hook vocabularies (the hooks table, and notify's kebab-case payload).

Codex 0.169 takes a ``hooks`` table from ``-c`` (the "session flags" layer) in the shape of
config.toml's [hooks]. New hooks wait behind a "Hooks need review" dialog until trusted, and
trusting them in the dialog writes to $CODEX_HOME/config.toml; ``--dangerously-bypass-hook-trust``
would also run every untrusted hook of the user and of the repository. So the same ``-c`` table
carries ``state``: the trust record Codex itself would write for exactly our hooks (a sha256 of
each handler's canonical JSON). Should a later Codex hash differently, our hooks wait behind the
dialog, which the profile answers with Esc ("continue without trusting"), and notify still ends
turns.
"""

from __future__ import annotations

import json
import shlex

from coder_tui.core.agents.adapters.base import (
    CliAdapter,
    HookEventKind,
    HookInstall,
    HookRecord,
    LaunchContext,
    NormalizedHookEvent,
    first_text,
)
from coder_tui.core.agents.adapters.registry import register_adapter

CODEX_HOOK_EVENTS = {  # config key -> Codex's internal label (in trust keys and hashes)
    "SessionStart": "session_start",
    "UserPromptSubmit": "user_prompt_submit",
    "PreToolUse": "pre_tool_use",
    "PermissionRequest": "permission_request",
    "PostToolUse": "post_tool_use",
    "Stop": "stop",
    "Interrupt": "interrupt",
    "SessionEnd": "session_end",
}
CODEX_SHORT_HOOK_EVENTS = {"Interrupt", "SessionEnd"}  # Codex clamps their timeout to 3 s
CODEX_SESSION_FLAGS_SOURCE = "/<session-flags>/config.toml"
NOTIFY_TURN_END = "agent-turn-complete"  # notify's one event (its payload's "type")


class CodexAdapter(CliAdapter):
    """Codex CLI 0.169-0.171 (checked range in its profile)."""

    name = "codex"

    def install(self, launch: LaunchContext) -> HookInstall:
        # -c takes TOML values: strings written by _toml_string (valid for any path).
        notify = "notify=[" + ", ".join(_toml_string(part) for part in launch.hook) + "]"
        trust = "projects={ " + _toml_string(str(launch.cwd)) + ' = { trust_level = "trusted" } }'
        command = shlex.join(launch.hook)
        tables, state = [], []
        for event, label in CODEX_HOOK_EVENTS.items():
            timeout = 3 if event in CODEX_SHORT_HOOK_EVENTS else 30
            handler = f'type = "command", command = {_toml_string(command)}, timeout = {timeout}'
            tables.append(f"{event} = [{{ hooks = [{{ {handler} }}] }}]")
            key = _toml_string(f"{CODEX_SESSION_FLAGS_SOURCE}:{label}:0:0")
            digest = _toml_string(codex_hook_trust_hash(label, command, timeout))
            state.append(f"{key} = {{ trusted_hash = {digest} }}")
        hooks = "hooks={ " + ", ".join(tables) + ", state = { " + ", ".join(state) + " } }"
        return HookInstall(args=["-c", notify, "-c", trust, "-c", hooks])

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
        if name in ("Stop", NOTIFY_TURN_END):
            # Both report a turn's end (Stop, then notify): the turn id makes them one. Notify
            # also reports Codex's own title-generation turn, on another thread.
            reply = first_text(payload, "last_assistant_message", "last-assistant-message")
            thread = str(payload.get("thread-id") or "") if name == NOTIFY_TURN_END else ""
            return self.event(
                HookEventKind.TURN_ENDED, record, payload, reply=reply, thread_id=thread
            )
        if name == "Interrupt":  # a denied approval or Esc ends the turn with no Stop
            return self.event(HookEventKind.TURN_INTERRUPTED, record, payload)
        if name == "PermissionRequest":  # raised as its approval prompt opens (~1 s early)
            tool = str(payload["tool_name"]) if payload.get("tool_name") else ""
            return self.event(
                HookEventKind.APPROVAL_REQUESTED,
                record,
                payload,
                tool=tool,
                tool_input=payload.get("tool_input"),
                detail=str(payload.get("tool_name", "")),
            )
        if name == "PreToolUse" and payload.get("tool_name"):
            tool, tool_input = str(payload["tool_name"]), payload.get("tool_input")
            return self.event(
                HookEventKind.TOOL_STARTING, record, payload, tool=tool, tool_input=tool_input
            )
        if name == "PostToolUse":
            return self.event(HookEventKind.TOOL_FINISHED, record, payload)
        return self.event(HookEventKind.OTHER, record, payload)


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string: JSON's form with the characters as they are. JSON's
    escapes for characters outside the BMP (surrogate pairs) are not TOML, so a folder named
    with an emoji made Codex refuse its -c values."""
    return json.dumps(text, ensure_ascii=False)


def codex_hook_trust_hash(label: str, command: str, timeout: int) -> str:
    """The trust hash Codex records for one command hook (codex-rs hooks discovery, 0.169)."""
    import hashlib  # here, not at the top: the hook command imports this module on every event

    identity = {
        "event_name": label,
        "hooks": [{"type": "command", "command": command, "timeout": timeout, "async": False}],
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


register_adapter(CodexAdapter())
