"""The Review-Fix workflow, headless, with the real CLIs: Claude Code reviews, Codex fixes, Gemini
CLI checks. Round 1 asks for a change, Codex's patch lands in the project's file, round 2
approves, Gemini passes it; the channel holds the exact replies in order. Then the same run
killed with SIGKILL while Claude reviews round 2, and resumed: Claude comes back on its earlier
session (the model sees the earlier turns) and the run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_coder_tui
from tests.e2e.conftest import World
from tests.e2e.fake_model import Reply, WriteFile

AGENTS = "reviewer=claude,fixer=codex,checker=gemini"
# Codex asks before its patch (coder-tui launches every CLI in its asking mode); a headless run
# cannot ask the user, so the fixer's edits are approved by the policy a user would choose.
FIXER_POLICY = ("--policy", "fixer=approve-edits")
TASK = "the divide() function in calc.py"
REVIEW_1 = (
    "1. calc.py:2 divide() raises a bare ZeroDivisionError when b == 0: raise "
    'ValueError("b must not be 0") instead, with a clear message.\n\n'
    "Optional: a test for b == 0.\n\nVERDICT: CHANGES_REQUESTED"
)
FIXED = (
    "def divide(a, b):\n"
    "    if b == 0:\n"
    '        raise ValueError("b must not be 0")\n'
    "    return a / b\n\n\n"
    "def average(values):\n"
    "    return sum(values) / len(values)\n"
)
FIX_1 = "1 DONE: calc.py divide() raises ValueError for b == 0.\nRan: pytest -q (1 passed)."
REVIEW_2 = "Point 1 is addressed: divide() checks b == 0.\n\nVERDICT: APPROVE"
CHECK_1 = "Ran: pytest -q -> 1 passed.\nProblems found: none\n\nCHECK: PASS"

# Two full runs of three real CLIs: above the suite's 120 s, and above the waits inside, so a
# slow run fails with their message (what the run printed), not with a bare timeout.
pytestmark = pytest.mark.timeout(420)
EXPECTED = [
    ("reviewer", "review", 1, REVIEW_1),
    ("fixer", "fix", 1, FIX_1),
    ("reviewer", "review", 2, REVIEW_2),
    ("checker", "check", 1, CHECK_1),
]


def only_run_dir() -> Path:
    (run_dir,) = (Path(os.environ["CODER_TUI_HOME"]) / "state" / "runs").iterdir()
    return run_dir


def channel_of(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "channel.jsonl").read_text().splitlines()]


def check_finished_run(world: World, run_dir: Path) -> list[dict[str, Any]]:
    state = json.loads((run_dir / "run.json").read_text())
    assert state["status"] == "succeeded", state["outcome"]
    messages = channel_of(run_dir)
    replies = [
        (m["author"], m["step"], m["round"], m["text"]) for m in messages if m["kind"] == "reply"
    ]
    assert replies == EXPECTED
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    keys = [m["key"] for m in messages if m["key"]]
    assert len(keys) == len(set(keys)), "a message was posted twice"
    assert (world.project / "calc.py").read_text() == FIXED
    # The fixer was given the reviewer's exact words; the checker ran after the approval.
    (fix_prompt,) = world.server.user_texts("openai")
    assert REVIEW_1 in fix_prompt
    (check_prompt,) = world.server.user_texts("gemini")
    assert TASK in check_prompt
    return messages


def test_review_fix_with_claude_codex_and_gemini(world: World) -> None:
    world.server.script("anthropic", Reply(REVIEW_1), Reply(REVIEW_2))
    world.server.script("openai", WriteFile(str(world.project / "calc.py"), FIXED, then=FIX_1))
    world.server.script("gemini", Reply(CHECK_1))
    done = run_coder_tui(
        "run",
        "review-fix",
        "--task",
        TASK,
        "--agents",
        AGENTS,
        *FIXER_POLICY,
        "--headless",
        cwd=world.project,
        timeout=180,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    check_finished_run(world, only_run_dir())
    reviews = world.server.user_texts("anthropic")
    assert len(reviews) == 2 and TASK in reviews[0] and FIX_1 in reviews[1]
    assert "succeeded" in done.stdout


def test_review_fix_resumes_after_kill_9_with_claudes_session(world: World, tmp_path: Path) -> None:
    world.server.script(
        "anthropic",
        Reply(REVIEW_1),
        Reply("(never seen: coder-tui is killed during this turn)", delay=20),
        Reply(REVIEW_2),
    )
    world.server.script("openai", WriteFile(str(world.project / "calc.py"), FIXED, then=FIX_1))
    world.server.script("gemini", Reply(CHECK_1))
    output = tmp_path / "first-run.log"
    with output.open("w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coder_tui",
                "run",
                "review-fix",
                "--task",
                TASK,
                "--agents",
                AGENTS,
                *FIXER_POLICY,
                "--headless",
            ],
            cwd=world.project,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Kill while Claude works on round 2 (its second turn is in flight at the server); a
        # run that ends before that fails here with what it printed.
        deadline = time.monotonic() + 180
        while not world.server.wait_until(
            lambda server: len(server.user_texts("anthropic")) == 2, timeout=1
        ):
            ended = proc.poll() is not None
            if ended or time.monotonic() > deadline:
                pytest.fail(
                    f"round 2 never started ({'the run ended' if ended else 'timeout'}); "
                    f"Claude's prompts: {world.server.user_texts('anthropic')}\n"
                    + output.read_text()[-4000:]
                )
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    run_dir = only_run_dir()
    launch = json.loads((run_dir / "agents" / "reviewer" / "launch.json").read_text())
    first_session = launch["session_id"]
    assert first_session
    before_resume = time.monotonic()

    done = run_coder_tui("resume", run_dir.name, "--headless", cwd=world.project, timeout=180)

    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    check_finished_run(world, run_dir)
    relaunch = json.loads((run_dir / "agents" / "reviewer" / "launch.json").read_text())
    assert relaunch["argv"][relaunch["argv"].index("--resume") + 1] == first_session
    # Claude's first request after the resume carries the earlier conversation.
    resumed = [
        r
        for r in world.server.main_requests("anthropic")
        if r.time > before_resume and r.kind == "turn"
    ]
    history = texts_in(resumed[0].body["messages"])
    assert any(TASK in text for text in history), "the round-1 prompt is not in the history"
    assert REVIEW_1 in history, "Claude's round-1 review is not in the history"


def texts_in(value: Any) -> list[str]:
    """Every "text" string inside a request's messages (content blocks nest)."""
    if isinstance(value, dict):
        own = [value["text"]] if isinstance(value.get("text"), str) else []
        return own + [t for v in value.values() for t in texts_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts_in(v)]
    return []
