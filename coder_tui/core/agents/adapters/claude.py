"""Claude Code: hooks by ``--settings FILE`` for one launch, its folder trust, its hook names.

Claude Code takes a settings file per launch (``--settings``), so the hooks never touch the
user's settings. The one exception is its folder trust, which it keeps only in
``~/.claude.json``: there the smallest possible merge is made, a backup kept, and a note says so.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import TYPE_CHECKING

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

CLAUDE_HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "Stop", "Notification", "PreToolUse")
PERMISSION_NOTIFICATION = "permission_prompt"  # Notification's type when a permission prompt opens
ASKING_DEFAULT_MODES = ("default", "manual")  # defaultMode values under which Claude asks


class ClaudeAdapter(CliAdapter):
    """Claude Code 2.1.x (checked range in its profile)."""

    name = "claude"

    def install(self, launch: LaunchContext) -> HookInstall:
        installed = HookInstall()
        entry = [{"hooks": [{"type": "command", "command": shlex.join(launch.hook)}]}]
        settings = {"hooks": {event: entry for event in CLAUDE_HOOK_EVENTS}}
        path = launch.agent_dir / "claude-settings.json"
        write_json(path, settings)
        installed.files.append(path)
        installed.args += ["--settings", str(path)]
        installed.notes += _trust(launch.home, launch.cwd)
        return installed

    def asking_notes(self, launch: LaunchContext) -> list[str]:
        """Say so when the user's own Claude settings choose a permission mode that does not
        ask: the launch's --permission-mode wins over it inside coder-tui."""
        for settings in (
            launch.home / ".claude" / "settings.json",
            launch.cwd / ".claude" / "settings.json",
            launch.cwd / ".claude" / "settings.local.json",
        ):
            try:
                data = json.loads(settings.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            permissions = data.get("permissions") if isinstance(data, dict) else None
            mode = permissions.get("defaultMode") if isinstance(permissions, dict) else None
            if isinstance(mode, str) and mode not in ASKING_DEFAULT_MODES:
                return [
                    f"claude: {settings} sets defaultMode {mode!r}; inside coder-tui Claude asks "
                    "instead (a policy or --skip-approvals lets edits through)"
                ]
        return []

    def normalize(self, record: HookRecord) -> NormalizedHookEvent | None:
        payload = self.payload(record)
        if payload is None:
            return None
        name = record.get("event")
        if name == "SessionStart":
            return self.event(HookEventKind.SESSION_STARTED, record, payload)
        if name == "UserPromptSubmit":
            prompt = unwrap_pastes(str(payload.get("prompt", "")))
            return self.event(HookEventKind.PROMPT_ACCEPTED, record, payload, prompt=prompt)
        if name == "Stop":
            reply = first_text(payload, "last_assistant_message")
            return self.event(HookEventKind.TURN_ENDED, record, payload, reply=reply)
        if name == "PreToolUse" and payload.get("tool_name"):
            tool, tool_input = str(payload["tool_name"]), payload.get("tool_input")
            return self.event(
                HookEventKind.TOOL_STARTING, record, payload, tool=tool, tool_input=tool_input
            )
        if name == "Notification" and payload.get("notification_type") == PERMISSION_NOTIFICATION:
            detail = str(payload.get("message", ""))
            return self.event(HookEventKind.APPROVAL_REQUESTED, record, payload, detail=detail)
        return self.event(HookEventKind.OTHER, record, payload)


def _trust(home: Path, cwd: Path) -> list[str]:
    """Pre-accept Claude Code's trust dialog for ``cwd`` (it has no per-launch way)."""
    config = home / ".claude.json"
    if not config.exists():
        return [
            "claude: ~/.claude.json does not exist yet; run `claude` once to log in, "
            "then coder-tui can pre-accept the folder trust dialog"
        ]
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"claude: could not read ~/.claude.json ({exc}); trust left as is"]
    projects = data.setdefault("projects", {})
    project = projects.setdefault(str(cwd), {})
    if project.get("hasTrustDialogAccepted") is True:
        return []
    import shutil  # here, not at the top: the hook command imports this module on every event

    backup = config.with_name(f".claude.json.coder-tui-backup-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.copy2(config, backup)
    project["hasTrustDialogAccepted"] = True
    write_json(config, data, mode=config.stat().st_mode & 0o777)
    return [
        f"claude: marked {cwd} as trusted in ~/.claude.json (the only place Claude Code keeps "
        f"folder trust); backup at {backup}"
    ]


_PASTE_WRAPPER = re.compile(
    r'(?:\n\n)?<pasted_content id="([0-9A-Za-z]+)">\n(.*?)\n</pasted_content id="\1">\n?', re.S
)


def unwrap_pastes(prompt: str) -> str:
    """The prompt as typed: Claude Code 2.1.332 reports (and sends the model) a collapsed
    paste wrapped in ``<pasted_content id="...">`` tags; the text inside is exact."""
    return _PASTE_WRAPPER.sub(lambda match: match.group(2), prompt)


register_adapter(ClaudeAdapter())
