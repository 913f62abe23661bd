"""The coder-tui application: a grid of terminal panes.

Keys are split in two worlds. Inside a focused pane every key belongs to the child, except the
one key that leaves the pane (``ctrl+]``, which no agent CLI uses) and ``ctrl+q``. Outside a
pane ("navigation"), plain keys move the selection, maximise, enter a pane or quit.
"""

from __future__ import annotations

import asyncio
import math
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer

from coder_tui.core.session import TerminalSession
from coder_tui.ui.widgets.terminal_pane import TerminalPane

LEAVE_PANE_KEY = "ctrl+right_square_bracket"


def command_label(argv: Sequence[str]) -> str:
    """A short pane title: program and arguments with folders dropped (full line: tooltip)."""
    return shlex.join(os.path.basename(arg) if "/" in arg else arg for arg in argv)


class PanesScreen(Screen[None]):
    """The main screen: every pane in a grid, plus the key footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,down,tab", "select(1)", "Next pane", show=False),
        Binding("left,up,shift+tab", "select(-1)", "Previous pane", show=False),
        Binding("enter,i", "enter_pane", "Enter pane"),
        Binding("m,z", "toggle_maximize", "Maximise"),
        Binding("q", "app.quit", "Quit"),
        Binding("1", "enter_pane(0)", "Go to pane", key_display="1-9"),
        *(Binding(str(n), f"enter_pane({n - 1})", show=False) for n in range(2, 10)),
    ]

    DEFAULT_CSS = """
    PanesScreen { layout: vertical; }
    #panes { height: 1fr; grid-gutter: 0; }
    """

    def __init__(self, sessions: Sequence[tuple[str, TerminalSession]]) -> None:
        super().__init__()
        self.sessions = list(sessions)
        self.selected = 0

    def compose(self) -> ComposeResult:
        columns = max(1, math.ceil(math.sqrt(len(self.sessions))))
        rows = max(1, math.ceil(len(self.sessions) / columns))
        with Grid(id="panes") as grid:
            grid.styles.grid_size_columns = columns
            grid.styles.grid_size_rows = rows
            for index, (label, session) in enumerate(self.sessions):
                pane = TerminalPane(session, label=f"{index + 1} {label}", id=f"pane-{index}")
                pane.tooltip = session.command_line
                yield pane
        yield Footer()

    @property
    def panes(self) -> list[TerminalPane]:
        return list(self.query(TerminalPane))

    def on_mount(self) -> None:
        if self.panes:
            self.panes[0].focus()

    def on_descendant_focus(self) -> None:
        focused = self.focused
        if isinstance(focused, TerminalPane):
            self.selected = self.panes.index(focused)
            self._mark_selected()
        self.refresh_bindings()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def _mark_selected(self) -> None:
        for index, pane in enumerate(self.panes):
            pane.set_class(index == self.selected, "-selected")

    def action_select(self, step: int) -> None:
        panes = self.panes
        if panes:
            self.selected = (self.selected + step) % len(panes)
            self._mark_selected()
            if self.maximized is not None:
                self.maximize(panes[self.selected])

    def action_enter_pane(self, index: int | None = None) -> None:
        panes = self.panes
        if index is not None and 0 <= index < len(panes):
            self.selected = index
        if panes:
            panes[self.selected].focus()

    def action_leave_pane(self) -> None:
        self.set_focus(None)
        self._mark_selected()

    @property
    def navigating(self) -> bool:
        """No pane has focus: plain keys are commands."""
        return not isinstance(self.focused, TerminalPane)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a pane has focus its keys belong to the child: hide the navigation keys.
        if action in {"select", "enter_pane", "toggle_maximize", "app.quit"}:
            return self.navigating
        return True

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif self.panes:
            self.maximize(self.panes[self.selected])


class CoderTuiApp(App[None]):
    """Panes for the given commands; later issues add agents, the channel and the operator."""

    TITLE = "coder-tui"
    BINDINGS = [
        Binding(LEAVE_PANE_KEY, "leave_pane", "Leave pane", key_display="^]", priority=True),
        Binding("ctrl+q", "quit", "Quit", key_display="^q", priority=True, show=False),
    ]

    def __init__(
        self,
        commands: Sequence[Sequence[str]],
        *,
        labels: Sequence[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.commands = [list(c) for c in commands]
        self.labels = list(labels) if labels else [command_label(c) for c in self.commands]
        self.cwd = Path(cwd) if cwd else None
        self.env = env
        self.sessions: list[TerminalSession] = []

    def on_mount(self) -> None:
        theme = self.current_theme
        fg = Color.parse(theme.foreground or "#e0e0e0")
        bg = Color.parse(theme.background or "#000000")
        for argv in self.commands:
            self.sessions.append(
                TerminalSession(
                    argv,
                    cwd=self.cwd,
                    env=self.env,
                    default_fg=(fg.r, fg.g, fg.b),
                    default_bg=(bg.r, bg.g, bg.b),
                )
            )
        self.push_screen(PanesScreen(list(zip(self.labels, self.sessions, strict=True))))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_pane":
            return isinstance(self.focused, TerminalPane)
        return True

    def action_leave_pane(self) -> None:
        screen = self.screen
        if isinstance(screen, PanesScreen):
            screen.action_leave_pane()

    async def action_quit(self) -> None:
        """Quit only after every child's process group is gone."""
        await self.close_sessions()
        self.exit()

    async def close_sessions(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sessions), return_exceptions=True)

    def kill_sessions_now(self) -> None:
        """Last resort after the loop stopped (a crash): no child may outlive the app."""
        for session in self.sessions:
            session.close_now()
