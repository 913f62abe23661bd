"""Shared test helpers.

Tests wait on conditions with a deadline, never on bare sleeps: ``wait_for`` polls a
predicate and fails with a clear message when the deadline passes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest


async def wait_for(
    predicate: Callable[[], object],
    timeout: float = 5.0,
    *,
    interval: float = 0.005,
    message: str | Callable[[], str] = "",
) -> None:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            detail = message() if callable(message) else message
            pytest.fail(f"condition not met within {timeout:.1f}s {detail}".rstrip())
        await asyncio.sleep(interval)


def run_coder_tui(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``coder-tui ARGS`` as a user runs it (a child process of this interpreter), output kept."""
    return subprocess.run(
        [sys.executable, "-m", "coder_tui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Awaitable[None]]:
    """The ``wait_for`` helper as a fixture, so test modules need not import conftest."""
    return wait_for


CI_FLAGS = ("CI", "GITHUB_ACTIONS")


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own HOME and CODER_TUI_HOME: no test may read or touch the user's.
    The CI flags are removed too (the CI machine sets CI=true): a test that is about them sets
    them itself, and every other test sees the same environment on a laptop and in CI."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CODER_TUI_HOME", str(home / ".coder-tui"))
    for name in CI_FLAGS:
        monkeypatch.delenv(name, raising=False)


def session_app(
    agent_list: str,
    cwd: Path,
    commands: list[list[str]] | None = None,
    **option_changes: object,
) -> Any:
    """The TUI over a new session of ``agent_list`` (profiles as the user has them), as
    ``coder-tui --agents LIST`` builds it."""
    from coder_tui import paths
    from coder_tui.core.agents.profile import load_profiles
    from coder_tui.core.agents.team import parse_agent_list
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.ui.app import CoderTuiApp

    profiles = load_profiles()
    requests = parse_agent_list(agent_list, profiles)
    options = HostOptions.for_tui(**option_changes)
    host = RunHost.new(paths.runs_dir(), cwd, requests, profiles, options=options)
    return CoderTuiApp(commands or [], host=host, cwd=cwd)
