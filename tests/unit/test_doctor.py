"""``coder-tui doctor`` against real executables on a PATH the test controls.

Each test builds a folder of tiny shell scripts named like the agent CLIs (one answers its
version, one fails, one hangs) and a folder holding only ``sh`` and ``sleep``, and limits PATH
to those two, so nothing on the machine (a real ``claude``, ``npm`` or ``tmux``) leaks in.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from coder_tui import __version__
from coder_tui.core import emulator
from coder_tui.doctor import NPM_NOTE, check_python, main


class Bin:
    """A PATH of test executables: ``add`` writes a ``#!/bin/sh`` script."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, name: str, body: str) -> Path:
        path = self.folder / name
        path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
        path.chmod(0o755)
        return path


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bin:
    scripts = tmp_path / "bin"
    tools = tmp_path / "tools"
    scripts.mkdir()
    tools.mkdir()
    for tool in ("sh", "sleep"):
        found = shutil.which(tool)
        assert found is not None, f"the tests need {tool}"
        (tools / tool).symlink_to(found)
    monkeypatch.setenv("PATH", f"{scripts}{os.pathsep}{tools}")
    monkeypatch.setenv("COLUMNS", "250")  # rich reads it: keep table rows on one line
    return Bin(scripts)


@pytest.fixture
def user_agents() -> Path:
    """Where user profiles live for this test (conftest points CODER_TUI_HOME under tmp)."""
    folder = Path(os.environ["CODER_TUI_HOME"]) / "config" / "agents"
    folder.mkdir(parents=True)
    return folder


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def row(out: str, name: str) -> str:
    """The table row of agent ``name`` in the human output."""
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 2 and cells[1] == name:
            return line
    raise AssertionError(f"no row for {name!r} in:\n{out}")


def test_ready_missing_and_broken_rows_with_install_hints(
    bin_dir: Bin, capsys: pytest.CaptureFixture[str]
) -> None:
    claude = bin_dir.add("claude", 'echo "2.1.197 (Claude Code)"\n')
    bin_dir.add("codex", 'echo "error: config is corrupt" >&2\nexit 1\n')

    code = main(["--agents", "claude,codex,gemini"])

    out = capsys.readouterr().out
    assert code == 0, out  # missing or broken CLIs do not stop a run
    claude_row = row(out, "claude")
    assert "ready" in claude_row
    assert "2.1.197 (Claude Code)" in claude_row
    assert str(claude) in claude_row
    assert "claude" in claude_row.split("│")[6]  # hooks kind
    assert "broken" in row(out, "codex")
    assert "`codex --version` exited with 1: error: config is corrupt" in out
    gemini_row = row(out, "gemini")
    assert "missing" in gemini_row
    # The exact install command from the profile, and npm is not on this PATH.
    assert "gemini (Gemini CLI): npm install -g @google/gemini-cli" in out
    assert NPM_NOTE in out
    assert "npm install -g @openai/codex" not in out  # only missing CLIs get install hints
    assert "Environment OK; 1 of 3 agent CLIs ready." in out


def test_no_npm_note_when_npm_is_installed(
    bin_dir: Bin, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir.add("npm", "echo 10.9.0\n")

    code, doc = run_json(capsys, "--agents", "gemini")

    assert code == 0
    (gemini,) = doc["agents"]
    assert gemini["status"] == "missing"
    assert gemini["install"] == "npm install -g @google/gemini-cli"
    assert gemini["notes"] == []
    assert doc["env"]["npm"]["value"] == "10.9.0"


def test_a_hanging_version_command_is_broken_after_the_timeout(
    bin_dir: Bin, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not `exec`: the sleep is a grandchild that keeps the pipes open unless its group dies.
    bin_dir.add("gemini", "sleep 30\necho never\n")

    started = time.monotonic()
    code, doc = run_json(capsys, "--agents", "gemini", "--timeout", "0.5")

    assert time.monotonic() - started < 5
    assert code == 0
    (gemini,) = doc["agents"]
    assert gemini["status"] == "broken"
    assert gemini["version"] is None
    assert gemini["problem"] == "`gemini --version` timed out after 0.5s"


def test_json_document_shape(bin_dir: Bin, capsys: pytest.CaptureFixture[str]) -> None:
    claude = bin_dir.add("claude", 'printf "\\n\\033[1m2.1.197 (Claude Code)\\033[0m\\n"\n')

    code, doc = run_json(capsys)

    assert code == 0
    assert doc["ok"] is True
    assert doc["exit_code"] == 0
    assert doc["config_errors"] == []
    agents = {agent["name"]: agent for agent in doc["agents"]}
    assert list(agents) == sorted(agents)
    assert {"claude", "codex", "gemini", "generic", "fake"} <= set(agents)
    for agent in agents.values():
        assert set(agent) >= {
            "name",
            "title",
            "command",
            "executable",
            "path",
            "version",
            "hooks",
            "status",
            "install",
            "problem",
            "notes",
        }
    assert agents["claude"] | {"notes": None} == {
        "name": "claude",
        "title": "Claude Code",
        "command": ["claude"],
        "executable": str(claude),
        "path": str(claude),
        "version": "2.1.197 (Claude Code)",  # first non-empty line, escapes stripped
        "hooks": "claude",
        "status": "ready",
        "install": "npm install -g @anthropic-ai/claude-code",
        "problem": None,
        "notes": None,
        "checked": "2.1.197 to 2.1.332",
    }
    assert agents["codex"]["executable"] == "missing"
    assert agents["codex"]["path"] is None
    assert agents["codex"]["notes"] == [NPM_NOTE]
    # The fake agent ships with coder-tui: it is never run, only known.
    fake = agents["fake"]
    assert fake["status"] == "ready"
    assert fake["path"] == sys.executable
    assert fake["command"][0] == sys.executable
    assert fake["version"] == f"coder-tui {__version__} (built in)"
    assert fake["hooks"] == "fake"

    env = doc["env"]
    assert env["python"]["status"] == "ok"
    assert env["python"]["value"] == ".".join(map(str, sys.version_info[:3]))
    assert env["pyghostty"] == {
        "value": importlib.metadata.version("pyghostty"),
        "status": "ok",
        "note": "loads and renders",
    }
    assert env["fast_render"]["value"] == ("yes" if emulator._RAW_LAYOUT_OK else "no")
    assert env["textual"]["value"] == importlib.metadata.version("textual")
    assert env["term"]["status"] == env["colorterm"]["status"] == "info"
    # Not on this PATH: informational only, the run can still proceed.
    for tool in ("node", "npm", "tmux"):
        assert env[tool] == {"value": None, "status": "info", "note": env[tool]["note"]}
    assert "benchmarks" in env["tmux"]["note"]


def test_terminal_variables_are_reported(
    bin_dir: Bin, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM", "xterm-ghostty")
    monkeypatch.delenv("COLORTERM", raising=False)

    _, doc = run_json(capsys, "--agents", "fake")

    assert doc["env"]["term"]["value"] == "xterm-ghostty"
    assert doc["env"]["colorterm"]["value"] is None


def test_placeholders_are_substituted_in_user_profiles(
    bin_dir: Bin, user_agents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (user_agents / "mytool.yaml").write_text(
        textwrap.dedent(
            """\
            name: mytool
            title: My tool
            command: ["{python}", "-c", "import sys; print('mytool 3.4', sys.argv[1:])"]
            version_args: ["--version"]
            """
        )
    )

    code, doc = run_json(capsys, "--agents", "mytool")

    assert code == 0
    (mytool,) = doc["agents"]
    assert mytool["status"] == "ready"
    assert mytool["path"] == sys.executable
    assert mytool["version"] == "mytool 3.4 ['--version']"


def test_broken_user_profile_exits_2_naming_file_and_line(
    bin_dir: Bin, user_agents: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = user_agents / "bad.yaml"
    bad.write_text("name: bad\ncommand: [bad]\ncolour: red\n")

    code = main([])

    captured = capsys.readouterr()
    assert code == 2
    assert f"{bad}:3: colour: unknown field" in captured.out
    assert "fix the file named above" in captured.out

    code, doc = run_json(capsys)
    assert code == 2
    assert doc["ok"] is False
    assert doc["config_errors"] == [f"{bad}:3: colour: unknown field"]
    assert doc["agents"] == []


def test_agents_filter_limits_the_rows(bin_dir: Bin, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--agents", "fake", "--agents", "codex"])

    out = capsys.readouterr().out
    assert code == 0
    names = [
        cells[1].strip()
        for line in out.split("Environment")[0].splitlines()
        if len(cells := line.split("│")) > 2 and cells[1].strip() not in {"", "Name"}
    ]
    assert names == ["fake", "codex"]


def test_unknown_agent_is_a_usage_error(bin_dir: Bin, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--agents", "claude,nosuch"])

    err = capsys.readouterr().err
    assert code == 2
    assert "unknown agent nosuch" in err
    assert "claude" in err  # the known names are listed


def test_doctor_writes_nothing(bin_dir: Bin, capsys: pytest.CaptureFixture[str]) -> None:
    home = Path(os.environ["CODER_TUI_HOME"])
    bin_dir.add("claude", "echo 1.0\n")

    main([])
    main(["--json"])

    capsys.readouterr()
    assert not home.exists()
    assert sorted(p.name for p in bin_dir.folder.iterdir()) == ["claude"]


def test_python_too_old_is_an_environment_problem() -> None:
    assert check_python((3, 10, 14)).status == "problem"
    assert "3.11+" in check_python((3, 10, 14)).note
    assert check_python((3, 11, 0)).status == "ok"
    assert check_python((3, 13, 1)).status == "ok"


def test_pyghostty_failing_to_load_exits_1(tmp_path: Path) -> None:
    """A real process where importing pyghostty fails: the environment is broken."""
    code = (
        "import sys\n"
        "sys.modules['pyghostty'] = None  # makes `import pyghostty` raise ImportError\n"
        "from coder_tui.doctor import main\n"
        "sys.exit(main(['--json', '--agents', 'fake']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["env"]["pyghostty"]["status"] == "problem"
    assert "does not load" in doc["env"]["pyghostty"]["note"]
    assert [agent["status"] for agent in doc["agents"]] == ["ready"]  # still reported


def test_doctor_does_not_import_textual(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from coder_tui.doctor import main\n"
        "main(['--json', '--agents', 'fake'])\n"
        "assert not any(m == 'textual' or m.startswith('textual.') for m in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("printed", "status", "says"),
    [
        ("2.1.333 (Claude Code)", "untested", "is newer than the last version checked (2.1.332)"),
        ("2.1.100 (Claude Code)", "untested", "is older than the first version checked (2.1.197)"),
        ("2.1.250 (Claude Code)", "ready", None),
        ("Claude Code, build unknown", "ready", None),  # no version to judge: not a warning
    ],
)
def test_a_version_outside_the_checked_range_is_untested_not_ready(
    bin_dir: Bin, capsys: pytest.CaptureFixture[str], printed: str, status: str, says: str | None
) -> None:
    bin_dir.add("claude", f'echo "{printed}"\n')
    code, doc = run_json(capsys, "--agents", "claude")
    (claude,) = doc["agents"]
    assert code == 0  # an untested CLI may still work: it does not stop a run
    assert claude["status"] == status
    if says is None:
        assert claude["problem"] is None
    else:
        assert f"untested: Claude Code {printed.split()[0]} {says}" in claude["problem"]
        main(["--agents", "claude"])
        out = capsys.readouterr().out
        assert "untested" in row(out, "claude")
        assert "1 untested" in out and "not a version the profile was checked with" in out


def test_a_cli_answer_with_control_characters_is_printed_inert(
    bin_dir: Bin, capsys: pytest.CaptureFixture[str]
) -> None:
    """Colours are stripped from a version command's answer; what other control characters
    remain (8-bit CSI, a bidi override) is shown as escapes, never sent to the terminal."""
    bin_dir.add(
        "codex", "printf 'bad \\033[31mred\\033[0m \\302\\2332J \\342\\200\\256x\\n' >&2\nexit 1\n"
    )

    main(["--agents", "codex"])

    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out, out
    assert r"exited with 1: bad red \x9b2J \u202ex" in out
