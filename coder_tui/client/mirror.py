"""A client's copy of one attached session: its panes' rows, agents, run and channel.

The server sends what changed; the mirror keeps the rows of each pane as the server's
emulator has them (runs of styled cells, the emulator's own types) and remembers which rows
changed since the front end last drew, so a pane still redraws only those. Nothing here knows
Textual: any front end (the TUI, later a web view) renders a mirror.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coder_tui.core.channel import ChannelMessage
from coder_tui.core.emulator import DEFAULT_STYLE, CellStyle, Row, Run
from coder_tui.server.protocol import (
    AgentChanged,
    AgentView,
    ChannelPost,
    Frame,
    Message,
    Notice,
    PaneChanged,
    PaneView,
    RunChanged,
    RunView,
    SessionEnded,
    SessionView,
)
from coder_tui.server.screens import style_from_def


@dataclass
class PaneMirror:
    """One pane as the server last described it."""

    view: PaneView
    cols: int = 0
    rows: int = 0
    lines: list[Row] = field(default_factory=list)
    changed: set[int] = field(default_factory=set)
    full: bool = True
    cursor: tuple[int, int, bool] | None = None
    title: str = ""
    mouse: bool = False
    at_bottom: bool = True
    frames: int = 0
    listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def pane_id(self) -> int:
        return self.view.pane

    def take_changes(self) -> tuple[bool, dict[int, Row]]:
        """(all rows?, the rows changed since the last call) for a front end's next frame."""
        full = self.full
        if full:
            rows = dict(enumerate(self.lines))
        else:
            rows = {y: self.lines[y] for y in self.changed if y < len(self.lines)}
        self.full = False
        self.changed.clear()
        return full, rows

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()


class SessionMirror:
    """Everything a front end shows of one session, kept up to date by the server's events."""

    def __init__(self, view: SessionView) -> None:
        self.session_id = view.session
        self.view = view
        self.panes: dict[int, PaneMirror] = {p.pane: PaneMirror(p) for p in view.panes}
        self.agents: dict[str, AgentView] = {a.name: a for a in view.agents}
        self.run: RunView | None = view.run
        self.messages: list[ChannelMessage] = []
        self.ended: str | None = None
        self.styles: dict[int, CellStyle] = {}
        self.listeners: list[Callable[[Message], None]] = []

    @property
    def pane_order(self) -> list[PaneMirror]:
        return [self.panes[p.pane] for p in self.view.panes if p.pane in self.panes]

    def agent_of_pane(self, pane_id: int) -> AgentView | None:
        pane = self.panes.get(pane_id)
        if pane is None or pane.view.agent is None:
            return None
        return self.agents.get(pane.view.agent)

    def apply(self, message: Message) -> None:
        """Take one event from the server (those of other sessions are ignored)."""
        if isinstance(message, Frame):
            self._frame(message)
            return
        session = getattr(message, "session", None)
        if isinstance(message, AgentChanged):
            session = message.view.session
        if session != self.session_id:
            return
        if isinstance(message, AgentChanged):
            self.agents[message.view.name] = message.view
        elif isinstance(message, RunChanged):
            self.run = message.view
        elif isinstance(message, ChannelPost):
            self._post(ChannelMessage.model_validate(message.message))
        elif isinstance(message, PaneChanged):
            pane = self.panes.get(message.view.pane)
            if pane is not None:
                pane.view = message.view
                if message.reset:
                    pane.full = True
                pane._notify()
        elif isinstance(message, SessionEnded):
            self.ended = message.why or "ended"
        elif not isinstance(message, Notice):
            return
        for listener in list(self.listeners):
            listener(message)

    def _post(self, message: ChannelMessage) -> None:
        """A message, once: after a reconnect the history comes again."""
        if any(m.id == message.id for m in self.messages[-64:]):
            return
        self.messages.append(message)

    def _frame(self, frame: Frame) -> None:
        pane = self.panes.get(frame.pane)
        if pane is None:
            return
        for definition in frame.styles:
            style = style_from_def(definition)
            # The default style stays the one object the renderer knows by identity.
            self.styles[definition.id] = DEFAULT_STYLE if style == DEFAULT_STYLE else style
        styles = self.styles
        if frame.full or len(pane.lines) != frame.rows:
            pane.lines = [() for _ in range(frame.rows)]
            pane.full = True
        for y, wire_row in frame.changed:
            if y < frame.rows:
                pane.lines[y] = tuple(
                    Run(run.text, styles.get(run.style, DEFAULT_STYLE), run.cells)
                    for run in wire_row
                )
                pane.changed.add(y)
        pane.cols, pane.rows = frame.cols, frame.rows
        pane.cursor = frame.cursor
        pane.title = frame.title
        pane.mouse = frame.mouse
        pane.at_bottom = frame.at_bottom
        pane.frames += 1
        pane._notify()
