"""Every built-in profile's screen rules against the recorded screens of its CLI.

The corpus (``tests/data/screens/<cli>/<version>/``, recorded by ``tests/e2e/record_screens.py``)
holds the real CLIs' screens: start, idle in every permission mode, busy, approval, denied. A
profile change is checked here without any CLI installed: each screen must read as the state
the recorder saw (``expect`` in the version's ``manifest.json``; ``any`` only has to be read
without an error). An idle screen must show no busy marker and no approval, a busy screen no
approval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from coder_tui.core.agents.profile import AgentProfile, load_profiles
from coder_tui.core.agents.screen import read_screen

CORPUS = Path(__file__).resolve().parents[1] / "data" / "screens"
STATES = {"idle", "busy", "approval", "any"}


class Case(NamedTuple):
    cli: str
    path: Path
    expect: str
    id: str


def corpus_cases() -> list[Case]:
    cases = []
    for manifest_file in sorted(CORPUS.glob("*/*/manifest.json")):
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        cli, version = manifest["cli"], manifest["version"]
        for state, entry in sorted(manifest["states"].items()):
            path = manifest_file.parent / f"{state}.txt"
            cases.append(Case(cli, path, entry["expect"], f"{cli}-{version}-{state}"))
    return cases


CASES = corpus_cases()


@pytest.fixture
def profiles() -> dict[str, AgentProfile]:
    """The built-in profiles: the suite's isolated HOME holds no user profile (function scope,
    so that isolation is in place before they load)."""
    return load_profiles()


def screen_lines(path: Path) -> list[str]:
    """The screen as the agent reads it: ``screen.text()`` split into rows (the file ends with
    one newline the recorder added)."""
    return path.read_text(encoding="utf-8").removesuffix("\n").split("\n")


def test_the_corpus_is_there() -> None:
    """Every CLI with a built-in profile has recorded screens, each listed file present."""
    clis = {case.cli for case in CASES}
    assert {"claude", "codex", "gemini"} <= clis, f"corpus under {CORPUS} is missing CLIs"
    for case in CASES:
        assert case.path.is_file(), f"{case.path} listed in its manifest but missing"
        assert case.expect in STATES, f"{case.path}: unknown expect {case.expect!r}"


@pytest.mark.parametrize(("cli", "path", "expect"), [pytest.param(*c[:3], id=c.id) for c in CASES])
def test_profile_reads_recorded_screen(
    profiles: dict[str, AgentProfile], cli: str, path: Path, expect: str
) -> None:
    lines = screen_lines(path)
    reading = read_screen(profiles[cli], lines)
    footer = next((line.strip() for line in reversed(lines) if line.strip()), "")
    where = f"{path.relative_to(CORPUS)} (footer {footer!r}): {reading}"
    if expect == "any":
        return
    assert reading.state == expect, where
    if expect == "idle":
        assert reading.busy is None and reading.approval is None, where
    if expect == "busy":
        assert reading.approval is None, where
