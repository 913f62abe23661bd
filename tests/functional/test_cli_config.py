"""config.yaml as a user meets it: `coder-tui config` shows the file and every setting in
effect, `--help` lists the keys as the keymap has them, and a broken file stops the commands
that use it with file, line and field."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from coder_tui.ui.bindings import BINDINGS


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coder_tui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def config_file() -> Path:
    return Path(os.environ["CODER_TUI_HOME"]) / "config" / "config.yaml"


def write_config(text: str) -> Path:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_without_a_file_prints_the_path_and_the_defaults() -> None:
    shown = cli("config")
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert first == f"# config file: {config_file()} (not there: every value below is the default)"
    values = yaml.safe_load(shown.stdout)
    assert values["default_agents"] is None and values["policies"] == {}
    assert values["notifications"] == {
        "events": ["approval", "gate", "crash", "run-ended"],
        "bell": True,
        "desktop": True,
        "command": None,
    }
    assert values["keymap"] == {spec.id: spec.key for spec in BINDINGS}


def test_config_prints_the_files_values_over_the_defaults() -> None:
    write_config(
        "default_agents: claude,codex\n"
        "policies: {all: approve-edits}\n"
        "keymap:\n"
        "  agent.restart: R\n"
        "  pane.go.1: 1\n"
    )
    shown = cli("config")
    assert shown.returncode == 0, shown.stderr
    assert f"# config file: {config_file()} (exists)" in shown.stdout
    values = yaml.safe_load(shown.stdout)
    assert values["default_agents"] == "claude,codex"
    assert values["policies"] == {"all": "approve-edits"}
    assert values["keymap"]["agent.restart"] == "R"
    assert values["keymap"]["pane.go.1"] == "1"
    assert values["keymap"]["agent.approve"] == "a"  # untouched: the default
    (row,) = [line for line in shown.stdout.splitlines() if "agent.restart:" in line]
    assert "set in config.yaml; default r" in row


def test_a_broken_config_names_file_line_and_field() -> None:
    path = write_config("keymap:\n  agent.restart: R\n  agent.restrat: R\n")
    shown = cli("config")
    assert shown.returncode == 2
    assert f"{path}:3: keymap.agent.restrat: unknown binding id (known ids: " in shown.stderr
    # The commands that use the config refuse it before anything starts.
    for args in (("--cmd", "true"), ("run", "review-fix", "--task", "t", "--headless")):
        refused = cli(*args)
        assert refused.returncode == 2, args
        assert f"{path}:3: keymap.agent.restrat" in refused.stderr, args
    # --help still helps, with the default keys.
    helped = cli("--help")
    assert helped.returncode == 0 and "is broken, see `coder-tui config`" in helped.stdout


def help_keys(text: str) -> dict[str, str]:
    """Binding id -> the keys --help lists for it (rows: keys, id, what it does)."""
    rows = re.findall(r"^  (\S.*?) {2,}([a-z]+\.[\w.]+) {2,}", text, flags=re.MULTILINE)
    return {name: keys for keys, name in rows}


def test_help_lists_the_keys_of_the_keymap() -> None:
    default = help_keys(cli("--help").stdout)
    assert default["agent.restart"] == "r" and default["pane.leave"] == "ctrl+]"
    assert default["pane.next"] == "right, down, tab" and default["pane.go.N"] == "1-9"
    write_config("keymap:\n  agent.restart: R\n  run.pick_template: f2,ctrl+t\n")
    moved = help_keys(cli("--help").stdout)
    assert moved["agent.restart"] == "R" and moved["run.pick_template"] == "f2, ctrl+t"
    assert moved["agent.approve"] == "a"


def test_help_imports_neither_textual_nor_pydantic() -> None:
    probe = (
        "import contextlib, io, sys\n"
        "from coder_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, "
        "contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "assert 'agent.restart' in out.getvalue()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'pydantic', 'yaml'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
