"""One line on the workflow run: template, step and round, loops, hops, time, and state."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from coder_tui.core.runs import RunStatus

if TYPE_CHECKING:  # the type only: front ends reach runs through the host
    from coder_tui.core.operator import Operator

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
        self._operator: Operator | None = None

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        if self._operator is not None:
            self.show(self._operator)

    def show(self, operator: Operator) -> None:
        self._operator = operator
        state = operator.state
        status = RunStatus(state.status)
        elapsed = (state.ended or time.time()) - state.started
        parts: list[str | tuple[str, str]] = [
            (f"{operator.template.title}", "bold"),
            f"  ·  {int(elapsed // 60):02d}:{int(elapsed % 60):02d}  ·  ",
            (str(status), STATUS_STYLES.get(status, "")),
        ]
        if state.current_step:
            round_ = state.step_rounds.get(state.current_step, 1)
            parts.append(f"  ·  step {state.current_step} #{round_}")
        for name, rounds in state.loop_rounds.items():
            loop = next((lp for lp in operator.template.loops if lp.name == name), None)
            parts.append(f"  ·  {name} {rounds}/{loop.max_rounds if loop else '?'}")
        parts.append(f"  ·  hops {state.hops}/{operator.template.limits.max_hops}")
        if operator.waiting_at_gate:
            parts.append(("  ·  waiting for you: g approve · G reject", "bold $warning"))
        elif operator.paused:
            parts.append(("  ·  p resumes · n runs one step", "$warning"))
        self.update(Content.assemble(*parts))
