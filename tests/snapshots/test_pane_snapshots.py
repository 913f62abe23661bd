"""What a user sees, kept from regressing: SVG snapshots of the real app with real children.

Update after an intended change with ``pytest tests/snapshots --snapshot-update`` and look at
the new SVGs (snapshot_report.html) before committing them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from coder_tui.ui.app import CoderTuiApp
from coder_tui.ui.widgets.terminal_pane import TerminalPane
from tests.conftest import wait_for

CHILDREN = Path(__file__).resolve().parent.parent / "children"
SHOWCASE = [sys.executable, str(CHILDREN / "showcase.py")]


def _pane_text(pane: TerminalPane) -> str:
    return "\n".join(pane.render_line(y).text for y in range(pane.content_size.height))


async def _until_drawn(pilot: Pilot[Any], *markers: str) -> None:
    panes = list(pilot.app.screen.query(TerminalPane))
    for pane, marker in zip(panes, markers, strict=False):
        await wait_for(lambda pane=pane, marker=marker: marker in _pane_text(pane), 10.0)
    await pilot.pause()


def test_pane_with_colours_wide_chars_and_cursor(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _until_drawn(pilot, "prompt>")

    app = CoderTuiApp([SHOWCASE], labels=["showcase"])
    assert snap_compare(app, terminal_size=(90, 20), run_before=run_before)


def test_three_panes_in_navigation_mode(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _until_drawn(pilot, "prompt>", "ready", "command not found")
        await pilot.press("ctrl+right_square_bracket", "right")

    app = CoderTuiApp(
        [SHOWCASE, [sys.executable, "-c", "print('ready'); input()"], ["no-such-cli"]],
        labels=["showcase", "python", "no-such-cli"],
    )
    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


MAIN_TEMPLATE = """\
name: mini-review
title: Mini review
category: review
description: Review, fix until approved.
inputs:
  - {name: task, description: what to review}
roles:
  reviewer: {prefer: [rev]}
  fixer: {prefer: [fix]}
steps:
  - id: review
    role: reviewer
    prompt: "Review {{ inputs.task }}. End with VERDICT: APPROVE or VERDICT: CHANGES_REQUESTED"
    outputs:
      verdict: {marker: "VERDICT:"}
    next:
      - {when: "outputs.verdict == 'APPROVE'", goto: end}
      - goto: fix
  - id: fix
    role: fixer
    prompt: "Fix this review: {{ steps.review.reply }}"
    next: [{goto: review}]
loops:
  - {name: review-loop, steps: [review, fix], max_rounds: 3}
"""

MAIN_SCRIPTS = {
    "rev": """\
rules:
  - times: 1
    reply: "divide() fails for b == 0.\\nVERDICT: CHANGES_REQUESTED"
  - reply: "Looks right now.\\nVERDICT: APPROVE"
""",
    "fix": """\
rules:
  - write: {path: calc.py, content: "def divide(a, b):\\n    return a / b if b else 0\\n"}
    reply: "Guarded divide() against b == 0."
""",
}


class _FixedClock:
    """The channel's clock, fixed: a snapshot keeps the layout, not the time of day."""

    @staticmethod
    def localtime(_at: float) -> object:
        return None

    @staticmethod
    def strftime(_format: str, _when: object = None) -> str:
        return "12:00:00 "


def test_main_screen_of_a_finished_run(snap_compare: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """The main screen the README shows: two agent panes, the channel with prompts, replies,
    outputs and the approval answered by policy, the run status line and the status bar."""
    from coder_tui import paths
    from coder_tui.core.agents.events import ApprovalPolicy
    from coder_tui.core.agents.profile import SessionArgs, load_profiles
    from coder_tui.core.agents.team import AgentRequest
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.core.runs import RunStatus
    from coder_tui.core.templates import load_templates
    from coder_tui.server.sessions import run_view
    from coder_tui.ui.widgets import channel_view
    from coder_tui.ui.widgets.run_status import RunStatusLine

    monkeypatch.setattr(channel_view, "time", _FixedClock)
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))
    # A fixed working folder and session ids: the fake agent shows both in its header.
    work = Path("/tmp/coder-tui-snapshot-project")
    shutil.rmtree(work, ignore_errors=True)
    (work / ".coder-tui" / "templates").mkdir(parents=True)
    (work / ".coder-tui" / "templates" / "mini-review.yaml").write_text(MAIN_TEMPLATE)
    (work / "calc.py").write_text("def divide(a, b):\n    return a / b\n")
    base = load_profiles()["fake"]
    for number, (name, script) in enumerate(MAIN_SCRIPTS.items(), start=1):
        script_file = tmp_path / f"{name}.yaml"
        script_file.write_text(script)
        session = f"00000000-0000-4000-8000-00000000000{number}"
        args = [*base.args, "--script", str(script_file), "--session-id", session]
        profile = base.model_copy(update={"name": name, "args": args, "session": SessionArgs()})
        agents_dir = work / ".coder-tui" / "agents"
        agents_dir.mkdir(exist_ok=True)
        (agents_dir / f"{name}.yaml").write_text(profile.model_dump_json())
    profiles = load_profiles(project=work / ".coder-tui")
    host = RunHost.new(
        paths.runs_dir(),
        work,
        [
            AgentRequest("reviewer", "rev"),
            AgentRequest("fixer", "fix", ApprovalPolicy.APPROVE_EDITS),
        ],
        profiles,
        template=load_templates(project=work / ".coder-tui")["mini-review"],
        inputs={"task": "calc.py"},
        options=HostOptions.for_tui(),
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(lambda: host.state.status is RunStatus.SUCCEEDED, 60)
        notes = pilot.app._notifications
        await wait_for(lambda: any("run succeeded" in n.message for n in notes), 15)
        await wait_for(lambda: all(a.status.value == "idle" for a in host.agents.values()), 15)
        host.state.started, host.state.ended = 1_000_000.0, 1_000_042.0  # 00:42 on the line
        assert host.operator is not None
        pilot.app.screen.query_one(RunStatusLine).show(run_view(host))
        pilot.app.clear_notifications()  # toasts time out: what stays is the screen itself
        await pilot.pause()

    from coder_tui.ui.app import CoderTuiApp

    app = CoderTuiApp(host=host)
    try:
        assert snap_compare(app, terminal_size=(160, 45), run_before=run_before)
    finally:
        shutil.rmtree(work, ignore_errors=True)
