"""The hermetic world the real CLIs run in: a fake model server, a refusing proxy, throwaway
HOMEs with onboarding answered, and a sample git project.

The CLIs are found by ``clis.cli_path`` (installed by ``tests/e2e/install-clis``). Every test
ends by checking that no CLI tried to leave the machine and that the server met no request it
could not answer.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.clis import cli_path
from tests.e2e.fake_model import FakeModelServer
from tests.e2e.homes import Cli, cli_home
from tests.e2e.proxy import CODEX_TIP_HOST, RefusingProxy

SAMPLE_FILES = {
    "calc.py": "def divide(a, b):\n    return a / b\n\n\ndef average(values):\n"
    "    return sum(values) / len(values)\n",
    "test_calc.py": "from calc import divide\n\n\ndef test_divide():\n"
    "    assert divide(6, 3) == 2\n",
    "README.md": "# calc\n\n`divide(a, b)` divides.\n",
}

# Variables of the developer's own setup that must not reach a CLI under test.
CLIS: tuple[Cli, ...] = ("claude", "codex", "gemini")
LEAKY_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "CODEX_", "GEMINI_", "GOOGLE_")


@dataclass
class World:
    server: FakeModelServer
    proxy: RefusingProxy
    project: Path
    home: Path


def git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=project, check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout


def make_project(folder: Path) -> Path:
    """A small git repository with one commit, as a user's project would be."""
    folder.mkdir(parents=True)
    for name, text in SAMPLE_FILES.items():
        (folder / name).write_text(text)
    git(folder, "init", "-q", "-b", "main")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    return folder.resolve()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Server, proxy, HOME prepared for all three CLIs, and the environment set so that a CLI
    coder-tui starts (a child of this process) sees only this world."""
    bins = {cli_path(name).parent for name in CLIS}
    for name in list(os.environ):
        if name.startswith(LEAKY_PREFIXES):
            monkeypatch.delenv(name)
    project = make_project(tmp_path / "project")
    home = Path(os.environ["HOME"])  # the suite's own throwaway HOME for this test
    with FakeModelServer() as server, RefusingProxy(allowed=[CODEX_TIP_HOST]) as proxy:
        env: dict[str, str] = {}
        for cli in CLIS:
            # Folder trust is coder-tui's job (tested here): the homes do not pre-answer it.
            env |= cli_home(
                cli, home, server.url, project, proxy_url=proxy.url, trust_project=False
            )
        env["PATH"] = os.pathsep.join([*map(str, sorted(bins)), os.environ["PATH"]])
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield World(server, proxy, project, home)
        assert proxy.violations() == [], f"a CLI tried to leave the machine: {proxy.violations()}"
        assert server.errors == [], (
            f"the fake model server saw unexpected requests: {server.errors}"
        )
