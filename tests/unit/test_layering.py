"""The layering in pyproject.toml's [tool.importlinter] holds: core knows no front end and no
Textual, the TUI and headless do not know each other, front ends reach runs through the host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def test_the_api_reference_is_the_protocol() -> None:
    """docs/api.md is generated from the protocol's structs; a change to them regenerates it
    (`python -m coder_tui.server.apidoc > docs/api.md`)."""
    from coder_tui.server.apidoc import api_markdown

    committed = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    assert committed == api_markdown()
