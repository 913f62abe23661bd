"""Launch preparation: per-launch hooks for each CLI, and nothing of the user's own config
touched except Claude Code's folder trust (minimal merge, backup, note)."""

from __future__ import annotations

import json
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from coder_tui.core.agents.launch import GEMINI_SYSTEM_SETTINGS_ENV, prepare_launch
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


def test_codex_overrides_are_valid_toml(profiles, tmp_path: Path) -> None:
    spec = launch(profiles, "codex", tmp_path)
    values = [spec.argv[i + 1] for i, arg in enumerate(spec.argv) if arg == "-c"]
    parsed = [tomllib.loads(value) for value in values]
    notify = next(p["notify"] for p in parsed if "notify" in p)
    assert notify[1:4] == ["-m", "coder_tui.hook", "--events"] and notify[-1] == "codex"
    trust = next(p["projects"] for p in parsed if "projects" in p)
    assert trust == {str(spec.cwd): {"trust_level": "trusted"}}
    assert spec.session_id is None  # Codex picks its own thread id


def test_codex_resume_is_a_subcommand(profiles, tmp_path: Path) -> None:
    spec = launch(profiles, "codex", tmp_path, session_id="thread-123", resume=True)
    assert spec.argv[:3] == ["codex", "resume", "thread-123"]


def test_gemini_hooks_via_system_settings_merged_with_the_admins(
    profiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = tmp_path / "system-settings.json"
    admin_hook = {"hooks": [{"type": "command", "command": "audit.sh"}]}
    admin.write_text(json.dumps({"ui": {"theme": "corp"}, "hooks": {"AfterAgent": [admin_hook]}}))
    monkeypatch.setenv(GEMINI_SYSTEM_SETTINGS_ENV, str(admin))
    spec = launch(profiles, "gemini", tmp_path, first_prompt="go")
    path = Path(spec.env[GEMINI_SYSTEM_SETTINGS_ENV])
    assert path != admin and json.loads(admin.read_text())["ui"] == {"theme": "corp"}
    settings = json.loads(path.read_text())
    assert settings["ui"] == {"theme": "corp"}
    after = settings["hooks"]["AfterAgent"]
    assert after[0] == admin_hook and "coder_tui.hook" in after[1]["hooks"][0]["command"]
    assert settings["hooksConfig"]["enabled"] is True
    assert settings["security"]["folderTrust"]["enabled"] is False
    assert spec.argv[-2:] == ["--prompt-interactive", "go"]


def test_skip_approval_only_when_asked(profiles, tmp_path: Path) -> None:
    assert "--yolo" not in launch(profiles, "gemini", tmp_path).argv
    spec = launch(profiles, "gemini", tmp_path, skip_approval=True)
    assert "--yolo" in spec.argv
    assert any("approvals skipped" in note for note in spec.notes)


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
    settings = json.loads(Path(spec.env[GEMINI_SYSTEM_SETTINGS_ENV]).read_text())
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
