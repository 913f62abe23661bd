"""The workflow commands as a user types them: demo, runs, runs --stats, replay, templates,
and resume's refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coder_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_demo_then_runs_stats_replay_and_resume_refusal(tmp_path: Path) -> None:
    started = time.monotonic()
    demo = cli("demo", "--headless")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert time.monotonic() - started < 60  # the issue: under a minute
    assert "VERDICT: CHANGES_REQUESTED" in demo.stdout and "VERDICT: APPROVE" in demo.stdout
    assert "outcome: succeeded" in demo.stdout
    runs_root = Path(os.environ["CODER_TUI_HOME"]) / "state" / "runs"
    (run_dir,) = runs_root.iterdir()
    state = json.loads((run_dir / "run.json").read_text())
    assert state["template"] == "review-fix" and state["status"] == "succeeded"

    listing = cli("runs")
    assert listing.returncode == 0 and run_dir.name in listing.stdout
    assert "review-fix" in listing.stdout and "succeeded" in listing.stdout

    stats = cli("runs", "--stats")
    assert stats.returncode == 0 and "first_round_approval" in stats.stdout

    replay = cli("replay", run_dir.name[:12])
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.count("VERDICT: APPROVE") >= 1 and "timeline" in replay.stdout
    assert "step_started" in replay.stdout and "run_ended" in replay.stdout

    again = cli("resume", run_dir.name, "--headless")
    assert again.returncode == 2 and "already ended (succeeded)" in again.stderr
    unknown = cli("resume", "no-such-run", "--headless")
    assert unknown.returncode == 2 and "no-such-run" in unknown.stderr


def test_templates_lists_the_builtins() -> None:
    listing = cli("templates")
    assert listing.returncode == 0
    for name in ("review-fix", "build-test", "parallel-specialists", "debate", "consensus"):
        assert name in listing.stdout
