"""What a user sees, kept from regressing: SVG snapshots of the real app with real children.

Update after an intended change with ``pytest tests/snapshots --snapshot-update`` and look at
the new SVGs (snapshot_report.html) before committing them.
"""

from __future__ import annotations

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
