"""A Textual widget that shows one pane of a server session and sends it keys, paste, mouse.

The screen lives in the server (coder_tui/server/screens.py): it sends the rows that changed,
and the pane's mirror (coder_tui/client/mirror.py) keeps them. Rendering is the hot path of
the app, so the pane does no more than the screen changed: a frame from the server only marks
the pane dirty; at most FRAME_RATE times a second the pane rebuilds the Strips of the rows that
changed (cached per row) and refreshes only those lines. Keys go to the server as Textual names
it; the server encodes them for the child's current modes, so the bytes are the same as when
the pane owned the child.
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

from coder_tui.client.mirror import PaneMirror
from coder_tui.core.emulator import DEFAULT_STYLE, CellStyle, Rgb, Row, Run
from coder_tui.server.protocol import Focus, Key, Message, Mouse, Paste, Resize, Scroll

FRAME_RATE = 60
STYLE_CACHE_MAX = 4096  # truecolour gradients make endless distinct styles: keep it bounded
SCROLL_STEP = 3  # rows per mouse-wheel notch in the scrollback
_PLACEHOLDER = "\ufffd"  # one cell, drawn where our width table and Ghostty's disagree

Send = Callable[[Message], None]


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
        pane: PaneMirror,
        send: Send,
        *,
        label: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.pane = pane
        self._send = send
        self.label = label or pane.view.label
        self.frames_drawn = 0
        self._strips: list[Strip] = []
        self._rows: list[Row] = []
        self._cursor_xy: tuple[int, int] | None = None
        self._cursor_strip: Strip | None = None
        self._frame_handle: asyncio.TimerHandle | None = None
        self._last_frame = 0.0
        self._full_redraw = True
        self._styles: dict[CellStyle, Style] = {}
        self._theme_key: tuple[object, ...] = ()
        self._base_style = Style()
        self._default_fg: Rgb = (255, 255, 255)
        self._default_bg: Rgb = (0, 0, 0)
        self._mouse_buttons = 0
        self._sent_size: tuple[int, int] | None = None
        self._ended_shown: bool | None = None
        self.border_title = self.label

    @property
    def pane_id(self) -> int:
        return self.pane.pane_id

    @property
    def ended(self) -> bool:
        return self.pane.view.ended

    # --- lifecycle ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.pane.listeners.append(self._on_update)
        self._show_ended()

    def on_unmount(self) -> None:
        if self._on_update in self.pane.listeners:
            self.pane.listeners.remove(self._on_update)
        if self._frame_handle is not None:
            self._frame_handle.cancel()
            self._frame_handle = None

    def _show_ended(self) -> None:
        """The border says how the child ended (or nothing while it runs)."""
        view = self.pane.view
        if view.ended == self._ended_shown:
            return
        self._ended_shown = view.ended
        self.set_class(view.ended, "-ended")
        if view.ended:
            self.border_subtitle = view.ended_why or "ended"
        elif self.pane.view.agent is None:
            self.border_subtitle = ""

    def _grid_size(self) -> tuple[int, int]:
        size = self.content_size
        return max(1, size.width), max(1, size.height)

    def on_resize(self, event: events.Resize) -> None:
        self.send_size()
        self._full_redraw = True
        self._frame()

    def send_size(self) -> None:
        """Tell the server this pane's size (it starts the child at it, and resizes to it
        while this client is the active one)."""
        size = self._grid_size()
        if size != self._sent_size:
            self._sent_size = size
            self._send(Resize(pane=self.pane_id, cols=size[0], rows=size[1]))

    # --- frames ------------------------------------------------------------------------------

    def _on_update(self) -> None:
        self._show_ended()
        self._schedule_frame()

    def _schedule_frame(self) -> None:
        """Coalesce the server's frames into at most FRAME_RATE a second."""
        if self._frame_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = max(0.0, self._last_frame + 1 / FRAME_RATE - time.monotonic())
        self._frame_handle = loop.call_later(delay, self._frame)

    def _frame(self) -> None:
        self._frame_handle = None
        if not self.is_mounted:
            return
        self._last_frame = time.monotonic()
        self._check_theme()
        pane = self.pane
        full, rows = pane.take_changes()
        width = self.size.width
        changed: set[int]
        if full or self._full_redraw or len(self._rows) != len(pane.lines):
            self._rows = list(pane.lines)
            self._strips = [self._row_strip(row, width) for row in self._rows]
            changed = set(range(max(len(self._rows), self.size.height)))
            self._full_redraw = False
        else:
            for y, row in rows.items():
                self._rows[y] = row
                self._strips[y] = self._row_strip(row, width)
            changed = set(rows)
        cursor = self._cursor_cell()
        if cursor != self._cursor_xy:
            for old_or_new in (self._cursor_xy, cursor):
                if old_or_new is not None:
                    changed.add(old_or_new[1])
            self._cursor_xy = cursor
        if cursor is not None and cursor[1] in changed:
            self._cursor_strip = None
        title = pane.title
        wanted_title = f"{self.label} · {title}" if title else self.label
        if self.border_title != wanted_title:
            self.border_title = wanted_title
        if changed:
            self.frames_drawn += 1
            for y in sorted(changed):
                self.refresh(Region(0, y, width, 1))

    def _cursor_cell(self) -> tuple[int, int] | None:
        cursor = self.pane.cursor
        if not self.has_focus or self.ended or cursor is None or not cursor[2]:
            return None
        return cursor[0], cursor[1]

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
        if self.ended:
            return
        event.stop()
        event.prevent_default()
        self._send(Key(pane=self.pane_id, key=event.key, character=event.character))

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        self._send(Paste(pane=self.pane_id, text=event.text))

    def on_focus(self) -> None:
        self._send(Focus(pane=self.pane_id, gained=True))
        self._schedule_frame()

    def on_blur(self) -> None:
        self._send(Focus(pane=self.pane_id, gained=False))
        self._schedule_frame()

    def _scroll(self, rows: int) -> None:
        self._send(Scroll(pane=self.pane_id, rows=rows))

    def _mouse_to_child(
        self, button: int, event: events.MouseEvent, *, press: bool | None, motion: bool = False
    ) -> bool:
        if self.ended or not self.pane.mouse:
            return False
        offset = event.get_content_offset(self)
        if offset is None:
            return True
        self._send(
            Mouse(
                pane=self.pane_id,
                button=button,
                x=offset.x,
                y=offset.y,
                press=press,
                motion=motion,
            )
        )
        return True

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        if not self._mouse_to_child(4, event, press=True):
            self._scroll(-SCROLL_STEP)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        if not self._mouse_to_child(5, event, press=True):
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
        if self.pane.mouse:
            self._mouse_to_child(self._mouse_buttons, event, press=None, motion=True)


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
