"""A pane's screen as the server sends it: changed rows, coalesced, per client.

The server's emulator is the only one (it alone answers the child's device queries). While a
client shows a pane, the pane reads the rows the emulator reports dirty at most FRAME_RATE
times a second (FLOOD_FRAME_RATE while the child floods, as the TUI's own pane did) into a row
cache, each row stamped with the frame that changed it. Each client gets the rows stamped after
the last frame it was sent: a client whose socket is backed up is skipped, and when it drains
it gets one frame with everything that changed meanwhile, never a queue of old frames. With no
client, nothing is read or encoded: the emulator only parses.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

from coder_tui.core.emulator import CellStyle, Row
from coder_tui.core.session import TerminalSession
from coder_tui.server.protocol import STYLE_FLAGS, Frame, StyleDef, WireRun

FRAME_RATE = 60
FLOOD_FRAME_RATE = 30
FLOOD_BYTES = 128 * 1024
SYNC_HOLD_MAX = 0.2  # seconds a ?2026 frame may hold the frame before it is sent anyway
STYLE_TABLE_MAX = 65_536  # truecolour gradients make endless styles: start over past this


class StyleTable:
    """Numbers for cell styles, shared by every pane of the server (a client learns each
    number once). Past STYLE_TABLE_MAX the table starts over and ``generation`` moves on, so
    clients know to forget theirs."""

    def __init__(self) -> None:
        self.ids: dict[CellStyle, int] = {}
        self.defs: dict[int, StyleDef] = {}
        self.generation = 0

    def id_of(self, style: CellStyle) -> int:
        found = self.ids.get(style)
        if found is not None:
            return found
        if len(self.ids) >= STYLE_TABLE_MAX:
            self.ids.clear()
            self.defs.clear()
            self.generation += 1
        number = len(self.ids)
        self.ids[style] = number
        flags = 0
        for bit, name in enumerate(STYLE_FLAGS):
            if getattr(style, name):
                flags |= 1 << bit
        self.defs[number] = StyleDef(number, style.fg, style.bg, flags, style.underline)
        return number


def style_from_def(definition: StyleDef) -> CellStyle:
    """A client's CellStyle for a StyleDef (the inverse of StyleTable's numbering)."""
    flags = {name: bool(definition.flags & (1 << bit)) for bit, name in enumerate(STYLE_FLAGS)}
    return CellStyle(
        fg=tuple(definition.fg) if definition.fg else None,  # type: ignore[arg-type]
        bg=tuple(definition.bg) if definition.bg else None,  # type: ignore[arg-type]
        underline=definition.underline,
        **flags,
    )


class FrameSink(Protocol):
    """A client connection as a pane sees it."""

    def can_take_frames(self) -> bool: ...

    def send_frame(self, frame: Frame) -> None: ...

    def when_drained(self, feed: PaneFeed) -> None: ...


@dataclass
class ClientView:
    """What one client has of one pane."""

    sent_frame: int = -1  # the pane's frame number of the last rows sent (-1: nothing yet)
    sent_size: tuple[int, int] = (0, 0)
    styles_known: set[int] = field(default_factory=set)
    style_generation: int = 0
    cursor: tuple[int, int, bool] | None = None
    title: str = ""
    mouse: bool = False
    at_bottom: bool = True
    waiting: bool = False  # skipped while its socket was full


class PaneFeed:
    """One pane's screen, sent to the clients that show it."""

    def __init__(self, pane_id: int, session: TerminalSession, styles: StyleTable) -> None:
        self.pane_id = pane_id
        self.styles = styles
        self.session = session
        self.clients: dict[FrameSink, ClientView] = {}
        self.frame_number = 0
        self._rows: list[Row] = []
        self._row_frames: list[int] = []  # frame number that last changed each row
        self._rows_valid = False
        self._frame_handle: asyncio.TimerHandle | None = None
        self._last_frame = 0.0
        self._bytes_at_frame = 0
        self._bytes_last_frame = 0
        self._sync_since: float | None = None
        self._cursor: tuple[int, int, bool] | None = None
        self.frames_sent = 0
        self._watch(session)

    def _watch(self, session: TerminalSession) -> None:
        session.on_output(lambda: self._on_output(session))

    def replace(self, session: TerminalSession) -> None:
        """Show a new session (an agent restart): every client gets all rows again."""
        self.session = session
        self._rows_valid = False
        self._watch(session)
        self.invalidate()

    def invalidate(self) -> None:
        """Everything is sent again (a resize, a scroll into history, a new session)."""
        self._rows_valid = False
        self._schedule()

    # --- clients -----------------------------------------------------------------------------

    def add_client(self, client: FrameSink) -> None:
        self.clients[client] = ClientView()
        self._schedule()

    def remove_client(self, client: FrameSink) -> None:
        self.clients.pop(client, None)

    def resend(self, client: FrameSink) -> None:
        """The client's copy is gone (its style table started over): all rows again."""
        view = self.clients.get(client)
        if view is not None:
            self.clients[client] = ClientView()
            self._schedule()

    def offer(self, client: FrameSink) -> None:
        """Send ``client`` what changed since its last frame, if its socket takes it."""
        view = self.clients.get(client)
        if view is None:
            return
        if not client.can_take_frames():
            if not view.waiting:
                view.waiting = True
                client.when_drained(self)
            return
        view.waiting = False
        frame = self._frame_for(view)
        if frame is not None:
            client.send_frame(frame)
            self.frames_sent += 1

    # --- frames ------------------------------------------------------------------------------

    def _on_output(self, session: TerminalSession) -> None:
        if session is self.session and self.clients:
            self._schedule()

    def _schedule(self) -> None:
        if self._frame_handle is not None or not self.clients:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        rate = FLOOD_FRAME_RATE if self._bytes_last_frame > FLOOD_BYTES else FRAME_RATE
        delay = max(0.0, self._last_frame + 1 / rate - time.monotonic())
        self._frame_handle = loop.call_later(delay, self._frame)

    def _frame(self) -> None:
        self._frame_handle = None
        if not self.clients:
            return
        screen = self.session.screen
        now = time.monotonic()
        if screen.synchronized_output:
            if self._sync_since is None:
                self._sync_since = now
            if now - self._sync_since < SYNC_HOLD_MAX:
                loop = asyncio.get_running_loop()
                self._frame_handle = loop.call_later(1 / FRAME_RATE, self._frame)
                return
        self._sync_since = None
        self._last_frame = now
        received = self.session.bytes_received
        self._bytes_last_frame = received - self._bytes_at_frame
        self._bytes_at_frame = received
        self.frame_number += 1
        number = self.frame_number
        rows = screen.rows
        if not self._rows_valid or len(self._rows) != rows:
            self._rows = screen.all_rows()
            self._row_frames = [number] * len(self._rows)
            self._rows_valid = True
        else:
            for y, row in screen.dirty_rows().items():
                if y < len(self._rows):
                    self._rows[y] = row
                    self._row_frames[y] = number
        cursor = screen.cursor()
        if cursor.x is None or cursor.y is None:
            self._cursor = None
        else:
            self._cursor = (cursor.x, cursor.y, cursor.visible)
        for client in list(self.clients):
            self.offer(client)

    def _frame_for(self, view: ClientView) -> Frame | None:
        """The frame that brings ``view`` up to date, or None when it is."""
        if not self._rows_valid:
            return None
        screen = self.session.screen
        size = screen.size
        table = self.styles
        if view.style_generation != table.generation:
            view.styles_known.clear()
            view.style_generation = table.generation
            view.sent_frame = -1
        full = view.sent_frame < 0 or view.sent_size != size
        changed: list[tuple[int, list[WireRun]]] = []
        new_styles: list[StyleDef] = []
        known = view.styles_known
        for y, (row, stamp) in enumerate(zip(self._rows, self._row_frames, strict=True)):
            if not full and stamp <= view.sent_frame:
                continue
            wire_row: list[WireRun] = []
            for run in row:
                number = table.id_of(run.style)
                if number not in known:
                    known.add(number)
                    new_styles.append(table.defs[number])
                wire_row.append(WireRun(run.text, number, run.cells))
            changed.append((y, wire_row))
        title = screen.title
        mouse = screen.mouse_tracking
        at_bottom = screen.scrollback.at_bottom
        same_state = (view.cursor, view.title, view.mouse, view.at_bottom) == (
            self._cursor,
            title,
            mouse,
            at_bottom,
        )
        if not changed and not full and same_state:
            return None
        view.sent_frame = self.frame_number
        view.sent_size = size
        view.cursor, view.title, view.mouse, view.at_bottom = self._cursor, title, mouse, at_bottom
        cols, rows = size
        return Frame(
            pane=self.pane_id,
            cols=cols,
            rows=rows,
            full=full,
            changed=changed,
            styles=new_styles,
            cursor=self._cursor,
            title=title,
            mouse=mouse,
            at_bottom=at_bottom,
        )

    def close(self) -> None:
        if self._frame_handle is not None:
            self._frame_handle.cancel()
            self._frame_handle = None
        self.clients.clear()
