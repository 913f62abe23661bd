"""One line on the workflow run: template, step and round, loops, hops, time, and state."""

from __future__ import annotations

import time

from textual.content import Content
from textual.widgets import Static

from coder_tui.core.runs import RunStatus
from coder_tui.server.protocol import RunView

STATUS_STYLES = {
    RunStatus.RUNNING: "$success",
    RunStatus.PAUSED: "bold $warning",
    RunStatus.SUCCEEDED: "bold $success",
    RunStatus.FAILED: "bold $error",
    RunStatus.CANCELLED: "$warning",
}


class RunStatusLine(Static):
    DEFAULT_CSS = """
    RunStatusLine { height: 1; background: $panel-darken-1; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("no workflow running", id=id)
        self._run: RunView | None = None

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        if self._run is not None:
            self.show(self._run)

    def show(self, run: RunView) -> None:
        """The run as the server last described it (the clock ticks here)."""
        self._run = run
        status = RunStatus(run.status)
        elapsed = (run.ended or time.time()) - run.started
        parts: list[str | tuple[str, str]] = [
            (f"{run.title}", "bold"),
            f"  ·  {int(elapsed // 60):02d}:{int(elapsed % 60):02d}  ·  ",
            (str(status), STATUS_STYLES.get(status, "")),
        ]
        if run.step:
            parts.append(f"  ·  step {run.step} #{run.step_round}")
        for loop in run.loops:
            parts.append(f"  ·  {loop.name} {loop.rounds}/{loop.max_rounds or '?'}")
        parts.append(f"  ·  hops {run.hops}/{run.max_hops}")
        if run.waiting_at_gate:
            parts.append(("  ·  waiting for you: g approve · G reject", "bold $warning"))
        elif run.paused:
            parts.append(("  ·  p resumes · n runs one step", "$warning"))
        self.update(Content.assemble(*parts))
