"""Launch preparation: per-launch hooks for each CLI, and nothing of the user's own config
touched except Claude Code's folder trust (minimal merge, backup, note)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from coder_tui.core.agents.adapters.codex import CODEX_HOOK_EVENTS, codex_hook_trust_hash
from coder_tui.core.agents.adapters.gemini import GEMINI_HOME_ENV, GEMINI_TRUST_ENV
from coder_tui.core.agents.launch import prepare_launch
from coder_tui.core.agents.profile import load_profiles


@pytest.fixture
def profiles():  # type: ignore[no-untyped-def]
    return load_profiles()


def launch(profiles, name: str, tmp_path: Path, **kwargs):  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return prepare_launch(
        profiles[name], agent=f"{name}-a", cwd=work, agent_dir=tmp_path / "run" / name, **kwargs
    )


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


ASKS_NOTE = (
    "{agent}: {cli} asks before edits and commands ({args}); answer in coder-tui, "
    "or choose a policy"
)
GEMINI_ASK = "--approval-mode default"


def test_claude_gets_hooks_by_settings_file_and_a_session_id(profiles, tmp_path: Path) -> None:
    spec = launch(profiles, "claude", tmp_path, first_prompt="hello there")
    settings = json.loads(Path(option(spec.argv, "--settings")).read_text())
    for event in ("Stop", "UserPromptSubmit", "Notification", "SessionStart"):
        (command,) = settings["hooks"][event][0]["hooks"]
        assert command["type"] == "command"
        assert "coder_tui.hook" in command["command"] and "--kind claude" in command["command"]
    assert option(spec.argv, "--session-id") == spec.session_id
    assert spec.argv[-1] == "hello there"
    assert "--dangerously-skip-permissions" not in spec.argv


def test_claude_trust_is_merged_minimally_with_a_backup(profiles, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    original = {"theme": "dark", "projects": {"/elsewhere": {"hasTrustDialogAccepted": False}}}
    (home / ".claude.json").write_text(json.dumps(original))
    spec = launch(profiles, "claude", tmp_path, home=home)
    data = json.loads((home / ".claude.json").read_text())
    assert data["theme"] == "dark"
    assert data["projects"]["/elsewhere"] == {"hasTrustDialogAccepted": False}
    assert data["projects"][str(spec.cwd)]["hasTrustDialogAccepted"] is True
    (backup,) = home.glob(".claude.json.coder-tui-backup-*")
    assert json.loads(backup.read_text()) == original
    assert any("backup" in note and str(backup) in note for note in spec.notes)
    # Already trusted: nothing is written and no second backup is made.
    again = launch(profiles, "claude", tmp_path, home=home)
    assert len(list(home.glob(".claude.json.coder-tui-backup-*"))) == 1
    assert not [n for n in again.notes if "trusted" in n]


def test_claude_without_a_config_is_left_alone_with_a_note(profiles, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    spec = launch(profiles, "claude", tmp_path, home=home)
    assert not (home / ".claude.json").exists()
    assert any("run `claude` once" in note for note in spec.notes)


@pytest.mark.parametrize("folder", ["plain", "naïve 😀 project"], ids=["ascii", "non-bmp"])
def test_codex_overrides_are_valid_toml(profiles, tmp_path: Path, folder: str) -> None:
    """A folder (or state dir) with a character outside the BMP: JSON's surrogate escapes are
    not TOML, and Codex refused to start (#15 item 8)."""
    tmp_path = tmp_path / folder
    tmp_path.mkdir()
    spec = launch(profiles, "codex", tmp_path)
    values = [spec.argv[i + 1] for i, arg in enumerate(spec.argv) if arg == "-c"]
    parsed = [tomllib.loads(value) for value in values]
    notify = next(p["notify"] for p in parsed if "notify" in p)
    assert notify[1:4] == ["-m", "coder_tui.hook", "--events"] and notify[-1] == "codex"
    trust = next(p["projects"] for p in parsed if "projects" in p)
    assert trust == {str(spec.cwd): {"trust_level": "trusted"}}
    assert spec.session_id is None  # Codex picks its own thread id


def test_codex_hooks_come_per_launch_with_their_trust_record(profiles, tmp_path: Path) -> None:
    """Every hook table entry runs our hook command and has the trust record Codex would write
    for it (else Codex holds it behind its "Hooks need review" dialog). That Codex accepts the
    hashes is shown by tests/e2e with the real Codex: no dialog, and the hooks' events arrive."""
    spec = launch(profiles, "codex", tmp_path)
    values = [spec.argv[i + 1] for i, arg in enumerate(spec.argv) if arg == "-c"]
    hooks = next(tomllib.loads(v)["hooks"] for v in values if v.startswith("hooks="))
    state = hooks.pop("state")
    assert set(hooks) >= {"SessionStart", "UserPromptSubmit", "PermissionRequest", "Stop"}
    for event, groups in hooks.items():
        (handler,) = groups[0]["hooks"]
        assert shlex.split(handler["command"])[1:4] == ["-m", "coder_tui.hook", "--events"]
        label = CODEX_HOOK_EVENTS[event]
        record = state[f"/<session-flags>/config.toml:{label}:0:0"]
        expected = codex_hook_trust_hash(label, handler["command"], handler["timeout"])
        assert record == {"trusted_hash": expected}


def test_hook_command_never_exits_with_the_blocking_code(tmp_path: Path) -> None:
    """Exit code 2 from a hook blocks the prompt in Claude Code and Codex: bad arguments must
    fail plainly instead."""
    done = subprocess.run(
        [sys.executable, "-m", "coder_tui.hook", "--kind", "nonsense"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1 and "--events" in done.stderr


def test_codex_resume_is_a_subcommand(profiles, tmp_path: Path) -> None:
    spec = launch(profiles, "codex", tmp_path, session_id="thread-123", resume=True)
    assert spec.argv[:3] == ["codex", "resume", "thread-123"]


def gemini_home(tmp_path: Path, settings: str | None) -> Path:
    """A user's home as Gemini leaves it: settings, credentials, sessions."""
    home = tmp_path / "home"
    (home / ".gemini" / "tmp").mkdir(parents=True)
    (home / ".gemini" / "oauth_creds.json").write_text('{"token": "t"}')
    if settings is not None:
        (home / ".gemini" / "settings.json").write_text(settings)
    return home


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def test_gemini_gets_its_own_home_with_the_users_settings_plus_hooks(
    profiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Gemini skips a system settings file that is not root-owned all the way up, so the launch
    # moves Gemini's home instead; the admin's system settings are left to apply as they are.
    monkeypatch.setenv("GEMINI_CLI_SYSTEM_SETTINGS_PATH", str(tmp_path / "admin.json"))
    mine = {"hooks": [{"type": "command", "command": "audit.sh"}]}
    home = gemini_home(
        tmp_path,
        "{\n  // the user's own comment\n"
        '  "ui": {"theme": "corp", "url": "http://x//y"}, /* block */\n'
        f'  "hooks": {{"AfterAgent": [{json.dumps(mine)}]}}\n}}\n',
    )
    before = snapshot(home)
    spec = launch(profiles, "gemini", tmp_path, first_prompt="go", home=home)
    assert snapshot(home) == before  # nothing of the user's is written
    assert spec.env[GEMINI_TRUST_ENV] == "true"  # per-launch folder trust, no dialog
    assert "GEMINI_CLI_SYSTEM_SETTINGS_PATH" not in spec.env
    overlay = Path(spec.env[GEMINI_HOME_ENV])
    assert overlay.is_relative_to(tmp_path / "run" / "gemini")
    settings = json.loads((overlay / ".gemini" / "settings.json").read_text())
    assert settings["ui"] == {"theme": "corp", "url": "http://x//y"}
    assert settings["hooks"]["AfterAgent"][0] == mine
    for event in ("SessionStart", "BeforeAgent", "AfterAgent", "Notification"):
        (command,) = settings["hooks"][event][-1]["hooks"]
        assert "coder_tui.hook" in command["command"] and "--kind gemini" in command["command"]
    assert "hooksConfig" not in settings and "security" not in settings  # defaults: on, trust env
    for name in ("oauth_creds.json", "tmp"):  # credentials and sessions are the user's own
        assert (overlay / ".gemini" / name).readlink() == home / ".gemini" / name
    assert spec.files == [overlay / ".gemini" / "settings.json"]
    assert spec.notes == [ASKS_NOTE.format(agent="gemini-a", cli="Gemini CLI", args=GEMINI_ASK)]
    assert spec.argv[-2:] == ["--prompt-interactive", "go"]


def test_gemini_relaunch_refreshes_links_and_keeps_what_gemini_made(
    profiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = gemini_home(tmp_path / "elsewhere", '{"ui": {"theme": "a"}}')
    monkeypatch.setenv(GEMINI_HOME_ENV, str(home))  # the user's own GEMINI_CLI_HOME is honoured
    overlay = Path(launch(profiles, "gemini", tmp_path).env[GEMINI_HOME_ENV]) / ".gemini"
    (overlay / "projects.json").write_text("{}")  # Gemini replaced a link by a file of its own
    (home / ".gemini" / "oauth_creds.json").unlink()
    (home / ".gemini" / "commands").mkdir()
    (home / ".gemini" / "settings.json").write_text('{"ui": {"theme": "b"}}')
    launch(profiles, "gemini", tmp_path, session_id="s1", resume=True)
    assert not os.path.lexists(overlay / "oauth_creds.json")
    assert (overlay / "commands").readlink() == home / ".gemini" / "commands"
    assert (overlay / "projects.json").read_text() == "{}"
    assert json.loads((overlay / "settings.json").read_text())["ui"] == {"theme": "b"}


@pytest.mark.parametrize(
    ("settings", "note"),
    [
        ('{"ui": ', "hooks are off"),
        ('{"hooksConfig": {"enabled": false}}', "hooks are disabled"),
        (None, None),
    ],
)
def test_gemini_settings_it_cannot_use_are_left_to_gemini_with_a_note(
    profiles, tmp_path: Path, settings: str | None, note: str | None
) -> None:
    home = gemini_home(tmp_path, settings)
    spec = launch(profiles, "gemini", tmp_path, home=home)
    copy = Path(spec.env[GEMINI_HOME_ENV]) / ".gemini" / "settings.json"
    if note == "hooks are off":  # Gemini reads and reports the user's broken file itself
        assert copy.readlink() == home / ".gemini" / "settings.json"
    else:
        assert "coder_tui.hook" in json.dumps(json.loads(copy.read_text())["hooks"])
    if note is None:
        assert spec.notes == [ASKS_NOTE.format(agent="gemini-a", cli="Gemini CLI", args=GEMINI_ASK)]
    else:
        assert any(note in n for n in spec.notes)


def test_gemini_without_a_gemini_folder_gets_a_note(profiles, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    spec = launch(profiles, "gemini", tmp_path, home=home)
    assert not (home / ".gemini").exists()
    assert any("run `gemini` once" in note for note in spec.notes)


def test_gemini_never_sees_the_ci_switch_that_makes_it_headless(
    profiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = launch(profiles, "gemini", tmp_path)
    assert quiet.env_unset == ["CI", "GITHUB_ACTIONS"]
    assert not any("not passed" in note for note in quiet.notes)  # nothing was there to remove
    monkeypatch.setenv("CI", "true")
    spec = launch(profiles, "gemini", tmp_path)
    assert spec.env_unset == ["CI", "GITHUB_ACTIONS"]
    assert "gemini-a: CI not passed to Gemini CLI (env_unset in its profile)" in spec.notes
    assert launch(profiles, "claude", tmp_path).env_unset == []  # others keep the user's CI


def test_skip_approval_only_when_asked(profiles, tmp_path: Path) -> None:
    assert "--yolo" not in launch(profiles, "gemini", tmp_path).argv
    spec = launch(profiles, "gemini", tmp_path, skip_approval=True)
    assert "--yolo" in spec.argv
    assert "--approval-mode" not in spec.argv  # the two exclude each other
    assert spec.approvals_skipped
    assert any("approvals skipped" in note for note in spec.notes)


@pytest.mark.parametrize(
    ("cli", "asking"),
    [
        ("claude", ["--permission-mode", "default"]),
        ("codex", ["--sandbox", "read-only", "--ask-for-approval", "on-request"]),
        ("gemini", ["--approval-mode", "default"]),
    ],
)
def test_every_launch_makes_the_cli_ask_and_says_so(
    profiles, tmp_path: Path, cli: str, asking: list[str]
) -> None:
    """coder-tui is the approval authority: each CLI is started in the mode in which it asks
    before edits and commands, unless approvals are skipped (then only the skip flag)."""
    spec = launch(profiles, cli, tmp_path)
    at = spec.argv.index(asking[0])
    assert spec.argv[at : at + len(asking)] == asking
    assert not spec.approvals_skipped
    assert any("asks before edits and commands" in note for note in spec.notes)
    skipped = launch(profiles, cli, tmp_path, skip_approval=True)
    assert asking[0] not in skipped.argv
    assert profiles[cli].skip_approval_args[0] in skipped.argv


def test_a_profile_that_chooses_its_own_mode_gets_no_second_one(profiles, tmp_path: Path) -> None:
    """Codex refuses a repeated --sandbox: arguments that already choose the mode win."""
    spec = launch(profiles, "codex", tmp_path, extra_args=["--sandbox", "workspace-write"])
    assert spec.argv.count("--sandbox") == 1
    assert "--ask-for-approval" not in spec.argv
    assert any("choose the permission mode (--sandbox)" in note for note in spec.notes)


@pytest.mark.parametrize("mode", ["acceptEdits", "auto", "bypassPermissions", "plan", "default"])
def test_a_claude_default_mode_in_the_users_settings_is_named(
    profiles, tmp_path: Path, mode: str
) -> None:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(
        json.dumps({"permissions": {"defaultMode": mode}})
    )
    (home / ".claude.json").write_text("{}")
    spec = launch(profiles, "claude", tmp_path, home=home)
    named = [note for note in spec.notes if "sets defaultMode" in note]
    if mode == "default":
        assert named == []
    else:
        assert named and f"defaultMode {mode!r}; inside coder-tui Claude asks" in named[0]
    assert "--permission-mode" in spec.argv  # the flag wins over the settings


def test_the_hook_command_records_one_line_per_event(profiles, tmp_path: Path) -> None:
    spec = launch(profiles, "fake", tmp_path)
    command = shlex.split(option(spec.argv, "--hook-command"))
    payload = {"hook_event_name": "Stop", "last_assistant_message": "done ✓\nline 2"}
    for _ in range(2):
        subprocess.run(command, input=json.dumps(payload), text=True, check=True, timeout=30)
    lines = [json.loads(line) for line in spec.events_file.read_text().splitlines()]
    assert [(r["event"], r["agent"], r["kind"]) for r in lines] == [("Stop", "fake-a", "fake")] * 2
    assert lines[0]["payload"] == payload


def test_codex_notify_payload_comes_as_an_argument(profiles, tmp_path: Path) -> None:
    spec = launch(profiles, "codex", tmp_path)
    notify = next(
        tomllib.loads(v)["notify"]
        for i, v in enumerate(spec.argv)
        if spec.argv[i - 1] == "-c" and v.startswith("notify=")
    )
    payload = {"type": "agent-turn-complete", "thread-id": "t1", "last-assistant-message": "ok"}
    subprocess.run([*notify, json.dumps(payload)], check=True, timeout=30)
    (record,) = [json.loads(line) for line in spec.events_file.read_text().splitlines()]
    assert record["event"] == "agent-turn-complete" and record["payload"] == payload


def test_gemini_hook_prints_json_and_bad_payloads_are_kept(profiles, tmp_path: Path) -> None:
    spec = launch(profiles, "gemini", tmp_path)
    settings_file = Path(spec.env[GEMINI_HOME_ENV]) / ".gemini" / "settings.json"
    settings = json.loads(settings_file.read_text())
    command = shlex.split(settings["hooks"]["AfterAgent"][0]["hooks"][0]["command"])
    done = subprocess.run(command, input="not json", text=True, capture_output=True, timeout=30)
    assert done.returncode == 0 and json.loads(done.stdout) == {}
    (record,) = [json.loads(line) for line in spec.events_file.read_text().splitlines()]
    assert record["payload"] == {"raw": "not json"} and "not JSON" in record["error"]


def test_broken_user_profile_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    from coder_tui import paths
    from coder_tui.core.yamlfile import ConfigError

    folder = paths.config_dir() / "agents"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(
        "name: mine\ncommand: [x]\nscreen:\n  busy: ['(unclosed']\n  colour: red\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_profiles()
    text = str(caught.value)
    assert f"{folder / 'mine.yaml'}:4: screen.busy: " in text and "invalid regex" in text
    assert f"{folder / 'mine.yaml'}:5: screen.colour: unknown field" in text


def test_a_project_profile_overrides_a_builtin(tmp_path: Path) -> None:
    project = tmp_path / "proj" / ".coder-tui" / "agents"
    project.mkdir(parents=True)
    (project / "claude.yaml").write_text("name: claude\ncommand: [my-claude-wrapper]\n")
    assert load_profiles(project=project.parent)["claude"].command == ["my-claude-wrapper"]
