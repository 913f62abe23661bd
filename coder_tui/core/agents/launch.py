"""Turn a profile into a concrete launch: argv, env and per-launch files.

Hooks are added for this launch only and never by editing the user's own CLI configuration:
Claude Code gets ``--settings FILE``, Codex ``-c notify=[...]`` and a per-launch project trust,
Gemini CLI a system settings file named by an environment variable (the highest layer, which
merges with the user's). The one exception is Claude Code's folder trust, which it keeps only in
``~/.claude.json``: there the smallest possible merge is made, a backup kept, and a note says so.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coder_tui.core.agents.profile import AgentProfile, HookKind

GEMINI_SYSTEM_SETTINGS_ENV = "GEMINI_CLI_SYSTEM_SETTINGS_PATH"
GEMINI_DEFAULT_SYSTEM_SETTINGS = Path("/etc/gemini-cli/settings.json")


@dataclass
class LaunchSpec:
    """Everything needed to start one agent, plus what the user should be told."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    events_file: Path
    session_id: str | None
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # per-launch files written for it


def hook_command(events_file: Path, agent: str, kind: HookKind) -> list[str]:
    """The command a CLI's hook runs. The current interpreter by absolute path, so it works
    whether or not the coder-tui script is on the child's PATH."""
    return [
        sys.executable,
        "-m",
        "coder_tui.hook",
        "--events",
        str(events_file),
        "--agent",
        agent,
        "--kind",
        str(kind),
    ]


def _fill(items: list[str], values: Mapping[str, str]) -> list[str]:
    out = []
    for item in items:
        for key, value in values.items():
            item = item.replace("{" + key + "}", value)
        out.append(item)
    return out


def prepare_launch(
    profile: AgentProfile,
    *,
    agent: str,
    cwd: Path,
    agent_dir: Path,
    session_id: str | None = None,
    resume: bool = False,
    first_prompt: str | None = None,
    skip_approval: bool = False,
    extra_args: list[str] | None = None,
    home: Path | None = None,
) -> LaunchSpec:
    """Build the launch and write its per-launch files under ``agent_dir``.

    ``skip_approval`` adds the CLI's skip-permission flag; callers pass it only when the user
    or the template asked explicitly.
    """
    cwd = cwd.resolve()
    agent_dir.mkdir(parents=True, exist_ok=True)
    home = home or Path(os.environ.get("HOME") or Path.home())
    events_file = agent_dir / "events.jsonl"
    if resume and not session_id:
        raise ValueError(f"cannot resume {agent}: no session id was recorded")
    if not resume and profile.session.new:
        session_id = session_id or str(uuid.uuid4())
    values = {
        "python": sys.executable,
        "agent": agent,
        "session_id": session_id or "",
        "prompt": first_prompt or "",
    }
    command = _fill(profile.command, values)
    args: list[str] = []
    if resume and profile.session.resume and profile.session.resume_is_subcommand:
        command += _fill(profile.session.resume, values)
    elif resume and profile.session.resume:
        args += _fill(profile.session.resume, values)
    elif profile.session.new:
        args += _fill(profile.session.new, values)
    args += _fill(profile.args, values)
    env = {key: _fill([value], values)[0] for key, value in profile.env.items()}
    spec = LaunchSpec(argv=[], env=env, cwd=cwd, events_file=events_file, session_id=session_id)
    hook = hook_command(events_file, agent, profile.hooks)
    if profile.hooks is HookKind.CLAUDE:
        args += _claude_hooks(spec, agent_dir, hook)
        _claude_trust(spec, home, cwd)
    elif profile.hooks is HookKind.CODEX:
        args += _codex_hooks(hook, cwd)
    elif profile.hooks is HookKind.GEMINI:
        _gemini_hooks(spec, agent_dir, hook)
    elif profile.hooks is HookKind.FAKE:
        args += ["--hook-command", shlex.join(hook)]
    if skip_approval:
        args += profile.skip_approval_args
        if profile.skip_approval_args:
            spec.notes.append(
                f"{agent}: approvals skipped ({' '.join(profile.skip_approval_args)})"
            )
    args += extra_args or []
    if first_prompt and profile.first_prompt_args is not None:
        args += _fill(profile.first_prompt_args, values)
    spec.argv = command + args
    return spec


# --- Claude Code -----------------------------------------------------------------------------

CLAUDE_HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "Stop", "Notification", "PreToolUse")


def _claude_hooks(spec: LaunchSpec, agent_dir: Path, hook: list[str]) -> list[str]:
    entry = [{"hooks": [{"type": "command", "command": shlex.join(hook)}]}]
    settings = {"hooks": {event: entry for event in CLAUDE_HOOK_EVENTS}}
    path = agent_dir / "claude-settings.json"
    _write_json(path, settings)
    spec.files.append(path)
    return ["--settings", str(path)]


def _claude_trust(spec: LaunchSpec, home: Path, cwd: Path) -> None:
    """Pre-accept Claude Code's trust dialog for ``cwd`` (it has no per-launch way)."""
    config = home / ".claude.json"
    if not config.exists():
        spec.notes.append(
            "claude: ~/.claude.json does not exist yet; run `claude` once to log in, "
            "then coder-tui can pre-accept the folder trust dialog"
        )
        return
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        spec.notes.append(f"claude: could not read ~/.claude.json ({exc}); trust left as is")
        return
    projects = data.setdefault("projects", {})
    project = projects.setdefault(str(cwd), {})
    if project.get("hasTrustDialogAccepted") is True:
        return
    backup = config.with_name(f".claude.json.coder-tui-backup-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.copy2(config, backup)
    project["hasTrustDialogAccepted"] = True
    _write_json(config, data, mode=config.stat().st_mode & 0o777)
    spec.notes.append(
        f"claude: marked {cwd} as trusted in ~/.claude.json (the only place Claude Code keeps "
        f"folder trust); backup at {backup}"
    )


# --- Codex -----------------------------------------------------------------------------------


def _codex_hooks(hook: list[str], cwd: Path) -> list[str]:
    # -c takes TOML values; JSON strings and arrays of strings are valid TOML.
    notify = "notify=" + json.dumps(hook)
    trust = "projects={ " + json.dumps(str(cwd)) + ' = { trust_level = "trusted" } }'
    return ["-c", notify, "-c", trust]


# --- Gemini CLI ------------------------------------------------------------------------------

GEMINI_HOOK_EVENTS = ("SessionStart", "BeforeAgent", "AfterAgent", "Notification")


def _gemini_hooks(spec: LaunchSpec, agent_dir: Path, hook: list[str]) -> None:
    """A system-settings file (the layer with the final say) holding the admin's own system
    settings, if any, plus our hooks and a per-launch folder trust."""
    source = Path(os.environ.get(GEMINI_SYSTEM_SETTINGS_ENV) or GEMINI_DEFAULT_SYSTEM_SETTINGS)
    settings: dict[str, Any] = {}
    if source.is_file():
        try:
            loaded = json.loads(source.read_text(encoding="utf-8"))
            settings = loaded if isinstance(loaded, dict) else {}
        except (OSError, json.JSONDecodeError) as exc:
            spec.notes.append(f"gemini: ignored unreadable system settings {source} ({exc})")
    hooks = settings.setdefault("hooks", {})
    command = {"type": "command", "command": shlex.join(hook), "name": "coder-tui"}
    for event in GEMINI_HOOK_EVENTS:
        hooks.setdefault(event, []).append({"hooks": [command]})
    settings.setdefault("hooksConfig", {})["enabled"] = True
    security = settings.setdefault("security", {})
    security.setdefault("folderTrust", {})["enabled"] = False
    path = agent_dir / "gemini-system-settings.json"
    _write_json(path, settings)
    spec.files.append(path)
    spec.env[GEMINI_SYSTEM_SETTINGS_ENV] = str(path)


def _write_json(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Atomic replace, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
