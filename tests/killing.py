"""Running a child that writes files and killing it with SIGKILL mid-write (crash tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def grew(path: Path, size: int = 0) -> Callable[[], bool]:
    """Whether ``path`` holds more than ``size`` bytes (the child is writing)."""
    return lambda: path.exists() and path.stat().st_size > size


def kill_while_running(
    argv: list[str], started: Callable[[], bool], delay: float, timeout: float = 15.0
) -> None:
    """Start ``argv``, wait until ``started()`` (it is writing), wait ``delay`` s, SIGKILL it."""
    proc = subprocess.Popen(argv, env=child_env(), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not started():
            if proc.poll() is not None:
                pytest.fail(f"the child exited early: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail("the child never started writing")
            time.sleep(0.002)
        time.sleep(delay)
        assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
