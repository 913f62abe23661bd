"""Turn a profile into a concrete launch: argv, env and per-launch files.

Hooks are added for this launch only and never by editing the user's own CLI configuration:
Claude Code gets ``--settings FILE``; Codex ``-c notify=[...]``, ``-c hooks={...}`` with their trust
record and a per-launch project trust; Gemini CLI a per-launch home (``GEMINI_CLI_HOME``) linking
to the user's own, with a copy of the user's settings that adds the hooks, and a per-launch folder
trust. The one exception is Claude Code's folder trust, which it keeps only in ``~/.claude.json``:
there the smallest possible merge is made, a backup kept, and a note says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
    approvals_skipped: bool = False  # the user or template asked for the skip-permission flag
    env_unset: list[str] = field(default_factory=list)  # removed from the inherited environment


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
    spec.env_unset = [name for name in profile.env_unset if name not in env]
    removed = [name for name in spec.env_unset if name in os.environ]
    if removed:
        spec.notes.append(
            f"{agent}: {', '.join(removed)} not passed to {profile.title or profile.name} "
            "(env_unset in its profile)"
        )
    hook = hook_command(events_file, agent, profile.hooks)
    if profile.hooks is HookKind.CLAUDE:
        args += _claude_hooks(spec, agent_dir, hook)
        _claude_trust(spec, home, cwd)
    elif profile.hooks is HookKind.CODEX:
        args += _codex_hooks(hook, cwd)
    elif profile.hooks is HookKind.GEMINI:
        _gemini_hooks(spec, agent_dir, hook, home)
    elif profile.hooks is HookKind.FAKE:
        args += ["--hook-command", shlex.join(hook)]
    if skip_approval:
        spec.approvals_skipped = True
        args += profile.skip_approval_args
        if profile.skip_approval_args:
            spec.notes.append(
                f"{agent}: approvals skipped ({' '.join(profile.skip_approval_args)})"
            )
    elif profile.ask_approval_args and (
        own := _chosen_flags(profile.ask_approval_args, args + (extra_args or []))
    ):
        spec.notes.append(
            f"{agent}: its profile or arguments choose the permission mode ({', '.join(own)}); "
            "coder-tui's asking mode is not added"
        )
    elif profile.ask_approval_args:
        # coder-tui is the approval authority: the CLI asks, the user or policy answers.
        args += profile.ask_approval_args
        spec.notes.append(
            f"{agent}: {profile.title or profile.name} asks before edits and commands "
            f"({' '.join(profile.ask_approval_args)}); answer in coder-tui, or choose a policy"
        )
        if profile.hooks is HookKind.CLAUDE:
            _claude_mode_note(spec, home, cwd)
    args += extra_args or []
    if first_prompt and profile.first_prompt_args is not None:
        args += _fill(profile.first_prompt_args, values)
    spec.argv = command + args
    return spec


def _chosen_flags(ask_args: list[str], given: list[str]) -> list[str]:
    """The flags of ``ask_args`` that ``given`` already sets (a CLI may refuse a repeated one:
    Codex does), e.g. a user profile with its own ``--sandbox``."""
    flags = {arg for arg in ask_args if arg.startswith("-")}
    return [arg for arg in given if arg.split("=", 1)[0] in flags]


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


def _claude_mode_note(spec: LaunchSpec, home: Path, cwd: Path) -> None:
    """Say so when the user's own Claude settings choose a permission mode that does not ask:
    the launch's --permission-mode wins over it inside coder-tui."""
    for settings in (
        home / ".claude" / "settings.json",
        cwd / ".claude" / "settings.json",
        cwd / ".claude" / "settings.local.json",
    ):
        try:
            data = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        permissions = data.get("permissions") if isinstance(data, dict) else None
        mode = permissions.get("defaultMode") if isinstance(permissions, dict) else None
        if isinstance(mode, str) and mode not in ("default", "manual"):
            spec.notes.append(
                f"claude: {settings} sets defaultMode {mode!r}; inside coder-tui Claude asks "
                "instead (a policy or --skip-approvals lets edits through)"
            )
            return


# --- Codex -----------------------------------------------------------------------------------


# Codex 0.169 takes a `hooks` table from `-c` (the "session flags" layer) in the shape of
# config.toml's [hooks]. New hooks wait behind a "Hooks need review" dialog until trusted, and
# trusting them in the dialog writes to $CODEX_HOME/config.toml; `--dangerously-bypass-hook-trust`
# would also run every untrusted hook of the user and of the repository. So the same `-c` table
# carries `state`: the trust record Codex itself would write for exactly our hooks (a sha256 of
# each handler's canonical JSON). Should a later Codex hash differently, our hooks wait behind
# the dialog, which the profile answers with Esc ("continue without trusting"), and notify still
# ends turns.
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


def _toml_string(text: str) -> str:
    """A JSON string (no lone surrogates) is also a valid TOML basic string."""
    return json.dumps(text, ensure_ascii=False)


def codex_hook_trust_hash(label: str, command: str, timeout: int) -> str:
    """The trust hash Codex records for one command hook (codex-rs hooks discovery, 0.169)."""
    identity = {
        "event_name": label,
        "hooks": [{"type": "command", "command": command, "timeout": timeout, "async": False}],
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _codex_hooks(hook: list[str], cwd: Path) -> list[str]:
    # -c takes TOML values; JSON strings and arrays of strings are valid TOML.
    notify = "notify=" + json.dumps(hook)
    trust = "projects={ " + json.dumps(str(cwd)) + ' = { trust_level = "trusted" } }'
    command = shlex.join(hook)
    tables, state = [], []
    for event, label in CODEX_HOOK_EVENTS.items():
        timeout = 3 if event in CODEX_SHORT_HOOK_EVENTS else 30
        handler = f'type = "command", command = {_toml_string(command)}, timeout = {timeout}'
        tables.append(f"{event} = [{{ hooks = [{{ {handler} }}] }}]")
        key = _toml_string(f"{CODEX_SESSION_FLAGS_SOURCE}:{label}:0:0")
        digest = _toml_string(codex_hook_trust_hash(label, command, timeout))
        state.append(f"{key} = {{ trusted_hash = {digest} }}")
    hooks = "hooks={ " + ", ".join(tables) + ", state = { " + ", ".join(state) + " } }"
    return ["-c", notify, "-c", trust, "-c", hooks]


# --- Gemini CLI ------------------------------------------------------------------------------
#
# Gemini CLI 0.61 reads hooks only from its settings layers (system defaults, user, workspace,
# system). The system layer named by GEMINI_CLI_SYSTEM_SETTINGS_PATH is no per-launch route: it is
# skipped ("Security Warning: Skipping system settings file") unless the file and every folder
# above it are owned by root and not writable by group or others, which a user's own files never
# are. So each launch gets its own Gemini home (GEMINI_CLI_HOME, which moves ~/.gemini): a
# `.gemini` folder of links to the user's own entries (credentials, sessions, commands, ...),
# except settings.json, which is a copy of the user's settings plus our hooks. The admin's system
# settings apply untouched. Folder trust is answered by GEMINI_CLI_TRUST_WORKSPACE=true (the
# dialog would write ~/.gemini/trustedFolders.json); hooks from settings run only in a trusted
# folder. Settings changed from inside Gemini (/model, /settings) go to the copy and last only for
# that agent.

GEMINI_HOME_ENV = "GEMINI_CLI_HOME"
GEMINI_TRUST_ENV = "GEMINI_CLI_TRUST_WORKSPACE"
GEMINI_HOOK_EVENTS = ("SessionStart", "BeforeAgent", "AfterAgent", "Notification", "BeforeTool")
GEMINI_HOME_LINKS = (".agents", ".env")  # read by Gemini from the home folder itself
_JSON_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)


def _gemini_hooks(spec: LaunchSpec, agent_dir: Path, hook: list[str], home: Path) -> None:
    """Point Gemini at a per-launch home holding the user's settings plus our hooks, and trust
    the folder for this launch only. Nothing of the user's is written."""
    spec.env[GEMINI_TRUST_ENV] = "true"
    real_home = Path(spec.env.get(GEMINI_HOME_ENV) or os.environ.get(GEMINI_HOME_ENV) or home)
    real_dir = real_home / ".gemini"
    overlay = agent_dir / "gemini-home"
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
    spec.env[GEMINI_HOME_ENV] = str(overlay)
    if not isinstance(settings, dict):
        # Gemini reads (and reports) the user's file as it is; no hooks for this launch.
        settings_path.unlink(missing_ok=True)
        settings_path.symlink_to(user_file)
        spec.notes.append(f"gemini: could not read {user_file} ({settings}); hooks are off")
        return
    if not real_dir.is_dir():
        spec.notes.append(
            f"gemini: {real_dir} does not exist yet; run `gemini` once on its own to log in "
            "(what is chosen inside coder-tui is kept for that agent only)"
        )
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        hooks = settings["hooks"] = {}
    command = {"type": "command", "command": shlex.join(hook), "name": "coder-tui"}
    for event in GEMINI_HOOK_EVENTS:
        entries = hooks.get(event)
        hooks[event] = [*(entries if isinstance(entries, list) else []), {"hooks": [command]}]
    hooks_config = settings.get("hooksConfig")
    if isinstance(hooks_config, dict) and hooks_config.get("enabled") is False:
        spec.notes.append(
            f"gemini: hooks are disabled in {user_file} (hooksConfig.enabled: false); "
            "turn ends are read from the screen"
        )
    _write_json(settings_path, settings)
    spec.files.append(settings_path)


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


def _write_json(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Atomic replace, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
