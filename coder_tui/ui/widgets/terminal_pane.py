"""A Textual widget that shows one TerminalSession and forwards keys, paste and mouse to it.

Rendering is the hot path of the app, so it does no more than the screen changed: output only
marks the pane dirty; at most FRAME_RATE times a second the pane reads the rows the emulator
reports dirty, rebuilds those rows' Strips (cached per row), and refreshes only those lines.
While the child holds synchronized output (?2026) the repaint waits, for at most SYNC_HOLD_MAX.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.color import Color
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from coder_tui.core.emulator import DEFAULT_STYLE, CellStyle, Rgb, Row, Run
from coder_tui.core.pty import PtyExit
from coder_tui.core.session import TerminalSession

FRAME_RATE = 60
# A pane whose child flooded output (more than FLOOD_BYTES between its last two frames) draws at
# lower rate: nobody reads 60 screens a second of a flood, and the time goes to parsing it
# and to the other panes' keys instead (measured: throughput +50 %, key p99 halved).
FLOOD_FRAME_RATE = 30
FLOOD_BYTES = 128 * 1024
STYLE_CACHE_MAX = 4096  # truecolour gradients make endless distinct styles: keep it bounded
SYNC_HOLD_MAX = 0.2  # seconds a ?2026 frame may hold the repaint before we draw anyway
SCROLL_STEP = 3  # rows per mouse-wheel notch in the scrollback
_PLACEHOLDER = "\ufffd"  # one cell, drawn where our width table and Ghostty's disagree


class TerminalPane(Widget, can_focus=True):
    """One child program's screen. Focus it to type into the child."""

    DEFAULT_CSS = """
    TerminalPane {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        background: $background;
        color: $foreground;
        height: 1fr;
        width: 1fr;
        min-width: 10;
        min-height: 3;
    }
    TerminalPane.-selected {
        border: round $secondary;
        border-title-color: $text;
    }
    TerminalPane:focus {
        border: double $accent;
        border-title-color: $text;
        border-title-style: bold;
    }
    TerminalPane.-ended {
        border-subtitle-color: $warning;
    }
    """

    def __init__(
        self,
        session: TerminalSession,
        *,
        start: Callable[[], object] | None = None,
        label: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.session = session
        self._start = start or session.start
        self._started = False
        self.label = label or session.command_line
        self.frames_drawn = 0
        self._strips: list[Strip] = []
        self._rows: list[Row] = []
        self._cursor_xy: tuple[int, int] | None = None
        self._cursor_strip: Strip | None = None
        self._frame_handle: asyncio.TimerHandle | None = None
        self._last_frame = 0.0
        self._bytes_at_frame = 0
        self._bytes_last_frame = 0  # output between the last two frames: a flood or not
        self._sync_since: float | None = None
        self._full_redraw = True
        self._styles: dict[CellStyle, Style] = {}
        self._theme_key: tuple[object, ...] = ()
        self._base_style = Style()
        self._default_fg: Rgb = (255, 255, 255)
        self._default_bg: Rgb = (0, 0, 0)
        self._mouse_buttons = 0
        self.border_title = self.label

    # --- lifecycle ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._watch_session(self.session)

    def _watch_session(self, session: TerminalSession) -> None:
        session.on_output(self._on_output)
        session.on_exit(lambda exit: self._on_session_exit(session, exit))

    def _start_child(self) -> None:
        """Start the child once the pane has its real size, so it never draws for a wrong one
        and then redraws (losing what it printed, as vim's file message)."""
        if not self._started and self.session.pty is None and not self.session.ended:
            self._started = True
            self._start()

    def replace_session(self, session: TerminalSession, start: Callable[[], object]) -> None:
        """Show a new session in this pane (an agent restart); the old one must be closed."""
        self.session = session
        self._start = start
        self._started = False
        self.remove_class("-ended")
        self.border_subtitle = ""
        self._watch_session(session)
        cols, rows = self._grid_size()
        session.resize(cols, rows)
        self._start_child()
        self._full_redraw = True
        self._schedule_frame()

    def on_unmount(self) -> None:
        if self._frame_handle is not None:
            self._frame_handle.cancel()
            self._frame_handle = None

    def _on_session_exit(self, session: TerminalSession, exit: PtyExit | None) -> None:
        if session is not self.session:
            return  # a session this pane no longer shows (replaced on restart)
        self.add_class("-ended")
        self.border_subtitle = session.error or (exit.description if exit else "ended")

    def _grid_size(self) -> tuple[int, int]:
        size = self.content_size
        return max(1, size.width), max(1, size.height)

    def on_resize(self, event: events.Resize) -> None:
        cols, rows = self._grid_size()
        self.session.resize(cols, rows)
        self._start_child()
        self._full_redraw = True
        self._frame()

    # --- frames ------------------------------------------------------------------------------

    def _on_output(self) -> None:
        self._schedule_frame()

    def _schedule_frame(self) -> None:
        """Coalesce output into at most FRAME_RATE frames a second (FLOOD_FRAME_RATE while
        the child floods)."""
        if self._frame_handle is not None:
            return
        loop = asyncio.get_running_loop()
        rate = FLOOD_FRAME_RATE if self._bytes_last_frame > FLOOD_BYTES else FRAME_RATE
        delay = max(0.0, self._last_frame + 1 / rate - time.monotonic())
        self._frame_handle = loop.call_later(delay, self._frame)

    def _frame(self) -> None:
        self._frame_handle = None
        if not self.is_mounted:
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
        self._bytes_last_frame = self.session.bytes_received - self._bytes_at_frame
        self._bytes_at_frame = self.session.bytes_received
        self._check_theme()
        cols, rows = screen.size
        changed: set[int]
        if self._full_redraw or len(self._strips) != rows:
            self._rows = screen.all_rows()
            self._strips = [self._row_strip(row, cols) for row in self._rows]
            changed = set(range(rows))
            self._full_redraw = False
        else:
            dirty = screen.dirty_rows()
            for y, row in dirty.items():
                if y < rows:
                    self._rows[y] = row
                    self._strips[y] = self._row_strip(row, cols)
            changed = set(dirty)
        cursor = self._cursor_cell()
        if cursor != self._cursor_xy:
            for old_or_new in (self._cursor_xy, cursor):
                if old_or_new is not None:
                    changed.add(old_or_new[1])
            self._cursor_xy = cursor
        if cursor is not None and cursor[1] in changed:
            self._cursor_strip = None
        title = screen.title
        wanted_title = f"{self.label} · {title}" if title else self.label
        if self.border_title != wanted_title:
            self.border_title = wanted_title
        if changed:
            self.frames_drawn += 1
            width = self.size.width
            for y in sorted(changed):
                self.refresh(Region(0, y, width, 1))

    def _cursor_cell(self) -> tuple[int, int] | None:
        if not self.has_focus or self.session.ended:
            return None
        cursor = self.session.screen.cursor()
        if not cursor.visible or cursor.x is None or cursor.y is None:
            return None
        return cursor.x, cursor.y

    # --- strips ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self._strips):
            return Strip.blank(width, self._base_style)
        if self._cursor_xy is not None and self._cursor_xy[1] == y:
            if self._cursor_strip is None:
                self._cursor_strip = self._row_strip(self._rows[y], width, self._cursor_xy[0])
            return self._cursor_strip
        return self._strips[y]

    def _row_strip(self, row: Row, width: int, cursor_x: int | None = None) -> Strip:
        segments: list[Segment] = []
        x = 0
        for run in row:
            style = self._style(run.style)
            text = _fit(run)
            if cursor_x is not None and x <= cursor_x < x + run.cells:
                segments.extend(self._split_for_cursor(run, text, style, cursor_x - x))
            else:
                segments.append(Segment(text, style))
            x += run.cells
        if x < width:
            segments.append(Segment(" " * (width - x), self._base_style))
        return Strip(segments, max(x, width)).crop(0, width)

    def _split_for_cursor(self, run: Run, text: str, style: Style, offset: int) -> list[Segment]:
        cursor_style = self._cursor_style(run.style)
        if len(text) != run.cells:  # a wide char or grapheme run: the cursor covers it whole
            return [Segment(text, cursor_style)]
        parts = [
            Segment(text[:offset], style),
            Segment(text[offset], cursor_style),
            Segment(text[offset + 1 :], style),
        ]
        return [p for p in parts if p.text]

    def _check_theme(self) -> None:
        """Default colours come from the theme; a theme change restyles every row."""
        visual = self.visual_style
        key = (visual.background, visual.foreground)
        if key == self._theme_key:
            return
        self._theme_key = key
        bg = visual.background or Color(0, 0, 0)
        fg = visual.foreground or Color(255, 255, 255)
        self._default_bg = (bg.r, bg.g, bg.b)
        blended_fg = bg + fg
        self._default_fg = (blended_fg.r, blended_fg.g, blended_fg.b)
        self._base_style = Style(
            color=RichColor.from_rgb(*self._default_fg),
            bgcolor=RichColor.from_rgb(*self._default_bg),
        )
        self._styles.clear()
        self._full_redraw = True

    def _style(self, cell: CellStyle) -> Style:
        style = self._styles.get(cell)
        if style is None:
            if len(self._styles) >= STYLE_CACHE_MAX:
                self._styles.clear()
            style = self._styles[cell] = self._make_style(cell)
        return style

    def _make_style(self, cell: CellStyle, *, cursor: bool = False) -> Style:
        if cell is DEFAULT_STYLE and not cursor:
            return self._base_style
        fg = cell.fg or self._default_fg
        bg = cell.bg or self._default_bg
        if cell.inverse != cursor:
            fg, bg = bg, fg
        if cell.invisible:
            fg = bg
        return Style(
            color=RichColor.from_rgb(*fg),
            bgcolor=RichColor.from_rgb(*bg),
            bold=cell.bold or None,
            dim=cell.faint or None,
            italic=cell.italic or None,
            underline=bool(cell.underline) or None,
            strike=cell.strikethrough or None,
            blink=cell.blink or None,
            overline=cell.overline or None,
        )

    def _cursor_style(self, cell: CellStyle) -> Style:
        return self._make_style(cell, cursor=True)

    # --- input -------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """Every key that reaches a focused pane belongs to the child."""
        if self.session.ended:
            return
        event.stop()
        event.prevent_default()
        self._follow_output()
        self.session.send_key(event.key, event.character)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        self._follow_output()
        self.session.paste(event.text)

    def on_focus(self) -> None:
        self.session.write(self.session.screen.encode_focus(True))
        self._schedule_frame()

    def on_blur(self) -> None:
        self.session.write(self.session.screen.encode_focus(False))
        self._schedule_frame()

    def _follow_output(self) -> None:
        if not self.session.screen.scrollback.at_bottom:
            self.session.screen.scroll_to_bottom()
            self._full_redraw = True
            self._schedule_frame()

    def _scroll(self, rows: int) -> None:
        self.session.screen.scroll_viewport(rows)
        self._full_redraw = True
        self._schedule_frame()

    def _mouse_to_child(self, button: int, event: events.MouseEvent, **kw: bool) -> bool:
        screen = self.session.screen
        if self.session.ended or not screen.mouse_tracking:
            return False
        offset = event.get_content_offset(self)
        if offset is None:
            return True
        self.session.write(screen.encode_mouse(button, offset.x, offset.y, **kw))
        return True

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        if not self._mouse_to_child(4, event):
            self._scroll(-SCROLL_STEP)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        if not self._mouse_to_child(5, event):
            self._scroll(SCROLL_STEP)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        button = event.button or 1
        if self._mouse_to_child(button, event, press=True):
            self._mouse_buttons = button
            event.stop()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        button = event.button or self._mouse_buttons or 1
        if self._mouse_to_child(button, event, press=False):
            self._mouse_buttons = 0
            event.stop()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self.session.screen.mouse_tracking:
            self._mouse_to_child(self._mouse_buttons, event, motion=True)


def _fit(run: Run) -> str:
    """The run's text, made to take exactly ``run.cells`` cells in Textual's width table."""
    text = run.text
    if cell_len(text) == run.cells:
        return text
    if len(text) == run.cells:  # narrow cells: fix each character that is not one cell wide
        return "".join(ch if cell_len(ch) == 1 else _PLACEHOLDER for ch in text)
    first = text[0]
    if cell_len(first) == run.cells:
        return first
    return _PLACEHOLDER + " " * (run.cells - 1)
