"""Gemini CLI: a per-launch home whose settings add the hooks, its hook names, its transcript.

Gemini CLI 0.61 reads hooks only from its settings layers (system defaults, user, workspace,
system). The system layer named by GEMINI_CLI_SYSTEM_SETTINGS_PATH is no per-launch route: it is
skipped ("Security Warning: Skipping system settings file") unless the file and every folder
above it are owned by root and not writable by group or others, which a user's own files never
are. So each launch gets its own Gemini home (GEMINI_CLI_HOME, which moves ~/.gemini): a
``.gemini`` folder of links to the user's own entries (credentials, sessions, commands, ...),
except settings.json, which is a copy of the user's settings plus our hooks. The admin's system
settings apply untouched. Folder trust is answered by GEMINI_CLI_TRUST_WORKSPACE=true (the
dialog would write ~/.gemini/trustedFolders.json); hooks from settings run only in a trusted
folder. Settings changed from inside Gemini (/model, /settings) go to the copy and last only for
that agent.

Its AfterAgent hook has ``prompt_response``, but when the reply streamed in several chunks that
field repeats pieces of them; the session transcript (JSONL, named by the hook's
``transcript_path``) holds the reply as the model sent it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from typing import TYPE_CHECKING, Any

from coder_tui.core.agents.adapters.base import (
    CliAdapter,
    HookEventKind,
    HookInstall,
    HookRecord,
    LaunchContext,
    NormalizedHookEvent,
    first_text,
    write_json,
)
from coder_tui.core.agents.adapters.registry import register_adapter

if TYPE_CHECKING:
    from pathlib import Path

GEMINI_HOME_ENV = "GEMINI_CLI_HOME"
GEMINI_TRUST_ENV = "GEMINI_CLI_TRUST_WORKSPACE"
GEMINI_HOOK_EVENTS = ("SessionStart", "BeforeAgent", "AfterAgent", "Notification", "BeforeTool")
GEMINI_HOME_LINKS = (".agents", ".env")  # read by Gemini from the home folder itself
PERMISSION_NOTIFICATION = "ToolPermission"  # Notification's type when it asks permission
_JSON_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)


class GeminiAdapter(CliAdapter):
    """Gemini CLI 0.61 (checked range in its profile)."""

    name = "gemini"
    hook_stdout = "{}"  # Gemini parses a hook's stdout as JSON

    def install(self, launch: LaunchContext) -> HookInstall:
        """Point Gemini at a per-launch home holding the user's settings plus our hooks, and
        trust the folder for this launch only. Nothing of the user's is written."""
        installed = HookInstall(env={GEMINI_TRUST_ENV: "true"})
        home = launch.env.get(GEMINI_HOME_ENV) or os.environ.get(GEMINI_HOME_ENV) or launch.home
        real_home = _path(home)
        real_dir = real_home / ".gemini"
        overlay = launch.agent_dir / "gemini-home"
        _gemini_links(overlay, real_home)
        settings_path = overlay / ".gemini" / "settings.json"
        user_file = real_dir / "settings.json"
        settings: Any = {}
        if user_file.is_file():
            try:
                text = user_file.read_text(encoding="utf-8-sig")
                settings = json.loads(_JSON_COMMENT.sub(_keep_strings, text))
            except (OSError, ValueError) as exc:
                settings = str(exc)
        installed.env[GEMINI_HOME_ENV] = str(overlay)
        if not isinstance(settings, dict):
            # Gemini reads (and reports) the user's file as it is; no hooks for this launch.
            settings_path.unlink(missing_ok=True)
            settings_path.symlink_to(user_file)
            installed.notes.append(
                f"gemini: could not read {user_file} ({settings}); hooks are off"
            )
            return installed
        if not real_dir.is_dir():
            installed.notes.append(
                f"gemini: {real_dir} does not exist yet; run `gemini` once on its own to log in "
                "(what is chosen inside coder-tui is kept for that agent only)"
            )
        hooks = settings.get("hooks")
        if not isinstance(hooks, dict):
            hooks = settings["hooks"] = {}
        command = {"type": "command", "command": shlex.join(launch.hook), "name": "coder-tui"}
        for event in GEMINI_HOOK_EVENTS:
            entries = hooks.get(event)
            hooks[event] = [*(entries if isinstance(entries, list) else []), {"hooks": [command]}]
        hooks_config = settings.get("hooksConfig")
        if isinstance(hooks_config, dict) and hooks_config.get("enabled") is False:
            installed.notes.append(
                f"gemini: hooks are disabled in {user_file} (hooksConfig.enabled: false); "
                "turn ends are read from the screen"
            )
        write_json(settings_path, settings)
        installed.files.append(settings_path)
        return installed

    def normalize(self, record: HookRecord) -> NormalizedHookEvent | None:
        payload = self.payload(record)
        if payload is None:
            return None
        name = record.get("event")
        if name == "SessionStart":
            return self.event(HookEventKind.SESSION_STARTED, record, payload)
        if name == "BeforeAgent":
            prompt = str(payload.get("prompt", ""))
            return self.event(HookEventKind.PROMPT_ACCEPTED, record, payload, prompt=prompt)
        if name == "AfterAgent":
            transcript = payload.get("transcript_path")
            reply = self.read_transcript(_path(str(transcript))) if transcript else None
            if reply is None:
                reply = first_text(payload, "prompt_response")
            return self.event(HookEventKind.TURN_ENDED, record, payload, reply=reply)
        if name == "BeforeTool" and payload.get("tool_name"):
            tool, tool_input = str(payload["tool_name"]), payload.get("tool_input")
            return self.event(
                HookEventKind.TOOL_STARTING, record, payload, tool=tool, tool_input=tool_input
            )
        if name == "Notification" and payload.get("notification_type") == PERMISSION_NOTIFICATION:
            detail = str(payload.get("message", ""))
            return self.event(HookEventKind.APPROVAL_REQUESTED, record, payload, detail=detail)
        return self.event(HookEventKind.OTHER, record, payload)

    def read_transcript(self, path: Path) -> str | None:
        """The model's last text of the latest turn (after the last user message), or None
        when the file cannot be read or that turn has no text yet."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        reply: str | None = None
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written right now
            if not isinstance(record, dict):
                continue
            kind = record.get("type")
            if kind == "user":
                reply = None
            elif kind == "gemini":
                text = _text_of(record.get("content"))
                if text:
                    reply = text
        return reply


def _path(place: str | os.PathLike[str]) -> Path:
    """``place`` as a Path; pathlib is imported here, not at the top (see ``base``)."""
    from pathlib import Path

    return Path(place)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _gemini_links(overlay: Path, real_home: Path) -> None:
    """Make ``overlay/.gemini`` mirror the user's ``.gemini`` by symlinks (settings.json aside)
    and link the few home-level paths Gemini reads. Links are refreshed on every launch; a real
    file Gemini created in the overlay (nothing of the user's existed there) is kept."""
    real_dir = real_home / ".gemini"
    gemini_dir = overlay / ".gemini"
    gemini_dir.mkdir(parents=True, exist_ok=True)
    links = {overlay / name: real_home / name for name in GEMINI_HOME_LINKS}
    if real_dir.is_dir():
        links |= {gemini_dir / e.name: e for e in real_dir.iterdir() if e.name != "settings.json"}
    for folder in (overlay, gemini_dir):
        for entry in folder.iterdir():
            if entry.is_symlink():
                entry.unlink()
    for link, target in links.items():
        if os.path.lexists(target) and not os.path.lexists(link):
            link.symlink_to(target)


def _keep_strings(match: re.Match[str]) -> str:
    """Strip a JSON comment (as Gemini does, settings may have them) but keep strings."""
    text = match.group(0)
    return text if text.startswith('"') else " "


register_adapter(GeminiAdapter())
