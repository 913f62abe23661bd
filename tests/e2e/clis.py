"""Where the real agent CLIs are installed for end-to-end tests, and skipping when they are not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def search_dirs() -> list[Path]:
    """Folders searched for the CLI binaries, first match wins: ``CODER_TUI_E2E_CLIS`` (a
    folder holding the binaries, for a developer's own install), then where
    ``tests/e2e/install-clis`` puts the pinned versions."""
    dirs: list[Path] = []
    if configured := os.environ.get("CODER_TUI_E2E_CLIS"):
        dirs.append(Path(configured))
    dirs.append(HERE / "clis" / "node_modules" / ".bin")
    return dirs


def find_cli(name: str) -> Path | None:
    """The executable ``name`` from the first search folder that has it, or None."""
    for folder in search_dirs():
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def cli_path(name: str) -> Path:
    """The executable ``name``. Missing: the test is skipped, saying why, only when npm is not
    there to install it; otherwise it fails (CI must never skip these silently)."""
    found = find_cli(name)
    if found is not None:
        return found
    looked = ", ".join(str(d) for d in search_dirs())
    if shutil.which("npm") is None:
        pytest.skip(reason=f"{name} CLI not installed and npm is not available to install it")
    pytest.fail(f"{name} CLI not installed (looked in: {looked}); run tests/e2e/install-clis")
