"""The terminal screen of one pane: pyghostty (Ghostty's libghostty-vt) behind a small interface.

Nothing else in coder-tui imports pyghostty: its C API is marked unstable by Ghostty, so every
call into it lives here and ``tests/unit/test_emulator.py`` covers each one, catching an ABI
change on a version bump. Feeding and reading must happen on one thread (the event loop's):
the library has no lock of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NamedTuple

import pyghostty
import pyghostty.core as pyghostty_core
from pyghostty import ffi, lib

if TYPE_CHECKING:
    from coder_tui.core.keys import KeyStroke

Rgb = tuple[int, int, int]

# DEC private modes the UI and the key layer care about.
MODE_APP_CURSOR = 1
MODE_CURSOR_VISIBLE = 25
MODE_MOUSE_X10 = 9
MODE_MOUSE_NORMAL = 1000
MODE_MOUSE_BUTTON = 1002
MODE_MOUSE_ANY = 1003
MODE_FOCUS_EVENTS = 1004
MODE_MOUSE_SGR = 1006
MODE_ALT_SCREEN = 1049
MODE_BRACKETED_PASTE = 2004
MODE_SYNC_OUTPUT = 2026

# Key modifier bits of GhosttyMods (C #defines that the cdef does not carry).
MOD_SHIFT = 1 << 0
MOD_CTRL = 1 << 1
MOD_ALT = 1 << 2
MOD_SUPER = 1 << 3

_NO_VALUE = lib.GHOSTTY_NO_VALUE
_WIDE = lib.GHOSTTY_CELL_WIDE_WIDE
_SPACER_TAIL = lib.GHOSTTY_CELL_WIDE_SPACER_TAIL
_SPACER_HEAD = lib.GHOSTTY_CELL_WIDE_SPACER_HEAD
_CELLS_GRAPHEMES_LEN = lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_GRAPHEMES_LEN
_CELLS_GRAPHEMES_BUF = lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_GRAPHEMES_BUF
_CELLS_RAW = lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_RAW
_CELLS_STYLE = lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_STYLE
_CELLS_FG = lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_FG_COLOR
_CELLS_BG = lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_BG_COLOR
_CELLS_HAS_STYLING = lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_HAS_STYLING

# The C API passes these tagged unions by value; ABI-mode cffi cannot, so (as pyghostty does for
# GhosttyPoint) a layout-identical struct twin is declared and the function cast to use it.
ffi.cdef(
    """
    typedef struct { GhosttyTerminalScrollViewportTag tag; uint64_t value[2]; }
        CoderTuiScrollViewport;
    """
)
assert ffi.sizeof("CoderTuiScrollViewport") == ffi.sizeof("GhosttyTerminalScrollViewport")
_scroll_viewport = ffi.cast(
    "void(*)(GhosttyTerminal, CoderTuiScrollViewport)",
    ffi.addressof(lib, "ghostty_terminal_scroll_viewport"),
)


# Packed layout of a GhosttyCell (a u64), read straight from a row's cell array on the hot path.
# It is Ghostty's internal layout, so _raw_layout_matches() checks it against the public
# accessors once at import and the slow per-cell path takes over if it ever changes.
_TAG_CODEPOINT = lib.GHOSTTY_CELL_CONTENT_CODEPOINT
_TAG_GRAPHEME = lib.GHOSTTY_CELL_CONTENT_CODEPOINT_GRAPHEME
_TAG_BG_PALETTE = lib.GHOSTTY_CELL_CONTENT_BG_COLOR_PALETTE
_CP_SHIFT, _CP_MASK = 2, 0x1FFFFF
_CONTENT_MASK = 0x3FFFFFF  # tag + 24 content bits: identifies a bg-only cell's colour
_STYLE_SHIFT = 26
_WIDE_SHIFT = 42


def _raw_layout_matches() -> bool:
    term = pyghostty.Terminal(8, 1, scrollback=0)
    term.feed("\x1b[1;31mA\x1b[0m中e\u0301\x1b[44m\x1b[K".encode())
    out = ffi.new("uint32_t[2]")
    fields: tuple[tuple[int, Callable[[int], int]], ...] = (
        (lib.GHOSTTY_CELL_DATA_CONTENT_TAG, lambda v: v & 3),
        (lib.GHOSTTY_CELL_DATA_CODEPOINT, lambda v: (v >> _CP_SHIFT) & _CP_MASK),
        (lib.GHOSTTY_CELL_DATA_STYLE_ID, lambda v: (v >> _STYLE_SHIFT) & 0xFFFF),
        (lib.GHOSTTY_CELL_DATA_WIDE, lambda v: (v >> _WIDE_SHIFT) & 3),
    )
    try:
        for x in range(8):
            cell = ffi.new("GhosttyCell*")
            ref = term.ref(x, 0)
            _check(lib.ghostty_grid_ref_cell(ref, cell), "grid_ref_cell")
            for key, decode in fields:
                if key == lib.GHOSTTY_CELL_DATA_CODEPOINT and cell[0] & 3 >= _TAG_BG_PALETTE:
                    continue  # those bits hold the colour there, and the accessor says 0
                out[0] = 0
                _check(lib.ghostty_cell_get(cell[0], key, out), "cell_get")
                if out[0] != decode(cell[0]):
                    return False
        return True
    finally:
        term.close()


_PAGE_SLACK_ROWS = 2048


class EmulatorError(RuntimeError):
    """A libghostty-vt call failed: almost always an ABI mismatch after a version change."""


def _check(result: int, what: str) -> None:
    if result != 0:
        raise EmulatorError(f"libghostty-vt: {what} failed with code {result}")


@dataclass(frozen=True, slots=True)
class CellStyle:
    """How a run of cells looks. Hashable, so the UI can cache its own style object per value.

    ``fg``/``bg`` are resolved RGB, or None for the terminal's default colour, which the UI
    takes from its theme.
    """

    fg: Rgb | None = None
    bg: Rgb | None = None
    bold: bool = False
    faint: bool = False
    italic: bool = False
    underline: int = 0
    strikethrough: bool = False
    inverse: bool = False
    blink: bool = False
    invisible: bool = False
    overline: bool = False


DEFAULT_STYLE = CellStyle()


class Run(NamedTuple):
    """Consecutive cells sharing one style. ``cells`` counts grid columns. A wide character
    (2 cells) or a multi-codepoint grapheme always comes as a run of its own; in every other
    run each character is one cell."""

    text: str
    style: CellStyle
    cells: int


Row = tuple[Run, ...]


class CursorShape(IntEnum):
    BAR = 0
    BLOCK = 1
    UNDERLINE = 2
    BLOCK_HOLLOW = 3


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where to draw the cursor, in viewport coordinates; ``x``/``y`` are None when off-view."""

    x: int | None
    y: int | None
    visible: bool
    shape: CursorShape
    wide_tail: bool


@dataclass(frozen=True, slots=True)
class ScrollbackPosition:
    """Rows of history and where the viewport sits in them (0 = top of history)."""

    total_rows: int
    offset: int
    visible_rows: int

    @property
    def at_bottom(self) -> bool:
        return self.offset + self.visible_rows >= self.total_rows


class Screen:
    """One emulated terminal: feed it bytes, read back rows of styled runs.

    ``on_reply`` receives the bytes the terminal answers to device queries (cursor position,
    device attributes, colour queries ...); the owner writes them back to the child's PTY, or
    a CLI that waits for an answer would hang.
    """

    def __init__(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        scrollback_lines: int = 10_000,
        scrollback_bytes: int | None = None,
        on_reply: Callable[[bytes], None] | None = None,
        on_title: Callable[[str], None] | None = None,
        default_fg: Rgb | None = None,
        default_bg: Rgb | None = None,
    ) -> None:
        # Ghostty trims history a whole page (several hundred rows) at a time once the line
        # cap is reached, so a cap of exactly N keeps as few as N - page rows: ask for a page
        # more and at least N are always kept.
        self._term = pyghostty.Terminal(
            cols,
            rows,
            scrollback=scrollback_lines + _PAGE_SLACK_ROWS if scrollback_lines else 0,
            fg=default_fg,
            bg=default_bg,
        )
        self._t = self._term._t[0]
        # The scrollback byte cap defaults to about 10 KB (a few hundred rows) whatever the line
        # cap says; lift it so the line cap is the one that bites (about 1 KB a row, measured).
        cap = scrollback_bytes or (scrollback_lines + _PAGE_SLACK_ROWS) * 2048
        _check(
            lib.ghostty_terminal_set(
                self._t, lib.GHOSTTY_TERMINAL_OPT_SCROLLBACK_MAX_BYTES, ffi.new("size_t*", cap)
            ),
            "set scrollback bytes",
        )
        self._on_reply = on_reply
        self._on_title = on_title
        self._last_title = ""
        if on_reply is not None:
            self._term.on_reply(on_reply)
        self._state = ffi.new("GhosttyRenderState*")
        _check(lib.ghostty_render_state_new(ffi.NULL, self._state), "render_state_new")
        self._rows_iter = ffi.new("GhosttyRenderStateRowIterator*")
        _check(lib.ghostty_render_state_row_iterator_new(ffi.NULL, self._rows_iter), "row iter")
        self._cells = ffi.new("GhosttyRenderStateRowCells*")
        _check(lib.ghostty_render_state_row_cells_new(ffi.NULL, self._cells), "row cells")
        # Scratch outputs reused on the hot path instead of allocating per cell.
        self._u32 = ffi.new("uint32_t*")
        self._bool = ffi.new("bool*")
        self._raw_cell = ffi.new("GhosttyCell*")
        self._wide = ffi.new("GhosttyCellWide*")
        self._rgb = ffi.new("GhosttyColorRgb*")
        self._grapheme_buf = ffi.new("uint32_t[]", 64)
        self._style = ffi.new("GhosttyStyle*")
        self._style.size = ffi.sizeof("GhosttyStyle")
        self._cells_view = ffi.new("GhosttyCellsView*")
        self._style_cache: dict[CellStyle, CellStyle] = {}
        self._key_encoder = ffi.new("GhosttyKeyEncoder*")
        _check(lib.ghostty_key_encoder_new(ffi.NULL, self._key_encoder), "key_encoder_new")
        self._key_event = ffi.new("GhosttyKeyEvent*")
        _check(lib.ghostty_key_event_new(ffi.NULL, self._key_event), "key_event_new")
        self._mouse_encoder = ffi.new("GhosttyMouseEncoder*")
        _check(lib.ghostty_mouse_encoder_new(ffi.NULL, self._mouse_encoder), "mouse_encoder_new")
        self._mouse_event = ffi.new("GhosttyMouseEvent*")
        _check(lib.ghostty_mouse_event_new(ffi.NULL, self._mouse_event), "mouse_event_new")
        self._out_buf = ffi.new("char[]", 128)
        self._out_len = ffi.new("size_t*")
        self._closed = False

    # --- input ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Parse bytes from the child. Sequences split across calls are fine: the parser keeps
        its state, so callers pass raw reads and never decode them."""
        lib.ghostty_terminal_vt_write(self._t, data, len(data))
        self._term._raise_cb_err()
        if self._on_title is not None:
            title = self.title
            if title != self._last_title:
                self._last_title = title
                self._on_title(title)

    def resize(self, cols: int, rows: int) -> None:
        """Resize with reflow of the primary screen; the caller resizes the PTY to match."""
        cols, rows = max(1, cols), max(1, rows)
        if (cols, rows) != self.size:
            self._term.resize(cols, rows)

    # --- plain state ---------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        cols, rows = self._term.size
        return int(cols), int(rows)

    @property
    def cols(self) -> int:
        return self.size[0]

    @property
    def rows(self) -> int:
        return self.size[1]

    @property
    def title(self) -> str:
        """The window title the child set with OSC 0/2 ('' when none)."""
        s = self._term.get("title", "GhosttyString")
        if not s.len:
            return ""
        return bytes(ffi.buffer(s.ptr, s.len)).decode("utf-8", "replace")

    def mode(self, mode: int) -> bool:
        """Whether a DEC private mode is set (see the MODE_* constants)."""
        return bool(self._term.mode(mode))

    @property
    def bracketed_paste(self) -> bool:
        return self.mode(MODE_BRACKETED_PASTE)

    @property
    def app_cursor(self) -> bool:
        return self.mode(MODE_APP_CURSOR)

    @property
    def alt_screen(self) -> bool:
        return self.mode(MODE_ALT_SCREEN)

    @property
    def synchronized_output(self) -> bool:
        """?2026: the child is mid-frame; renderers hold the repaint (with a bound)."""
        return self.mode(MODE_SYNC_OUTPUT)

    @property
    def focus_reporting(self) -> bool:
        return self.mode(MODE_FOCUS_EVENTS)

    @property
    def mouse_tracking(self) -> bool:
        """The child asked for mouse reports (any of ?9, ?1000, ?1002, ?1003)."""
        return any(
            self.mode(m)
            for m in (MODE_MOUSE_X10, MODE_MOUSE_NORMAL, MODE_MOUSE_BUTTON, MODE_MOUSE_ANY)
        )

    @property
    def kitty_keyboard_flags(self) -> int:
        return int(self._term.get("kitty_keyboard_flags", "uint8_t"))

    @property
    def cursor_position(self) -> tuple[int, int]:
        """Cursor cell in the active screen (not the viewport)."""
        x, y = self._term.cursor
        return int(x), int(y)

    def text(self) -> str:
        """The visible active screen as plain text, trailing blanks trimmed."""
        return str(self._term.text())

    def contents(self, *, trim: bool = True) -> str:
        """Scrollback and screen as plain text, soft wraps joined.

        ``trim=False`` keeps the spaces the program wrote at the end of a line (and lines of
        only spaces): Ghostty knows a written space from a cell never written or erased, which
        is not text either way. Who reads a reply off the screen needs that difference."""
        if trim:
            return str(self._term.contents())
        selection = pyghostty_core.init_sized("GhosttySelection")
        found = lib.ghostty_terminal_select_all(self._term._t[0], selection)
        if found == lib.GHOSTTY_NO_VALUE:
            return ""
        _check(found, "select_all")
        options = pyghostty_core.init_sized("GhosttyTerminalSelectionFormatOptions")
        options.emit = lib.GHOSTTY_FORMATTER_FORMAT_PLAIN
        options.unwrap, options.trim, options.selection = True, False, selection
        terminal = self._term._t[0]
        return str(
            pyghostty_core.read_buf(
                lambda buf, size, written: lib.ghostty_terminal_selection_format_buf(
                    terminal, options[0], buf, size, written
                )
            )
        )

    def row_text(self, y: int) -> str:
        """One viewport row as plain text, trailing blanks trimmed (for screen rules and tests)."""
        self.update()
        for index, row in self._iter_rows(only_dirty=False, clean=False):
            if index == y:
                return "".join(run.text for run in row).rstrip()
        raise IndexError(y)

    # --- scrollback -----------------------------------------------------------------------------

    def scroll_viewport(self, delta_rows: int) -> None:
        """Move the view into history (negative = up) without changing the child's screen."""
        sv = ffi.new("CoderTuiScrollViewport*")
        sv.tag = lib.GHOSTTY_SCROLL_VIEWPORT_DELTA
        sv.value[0] = delta_rows & 0xFFFFFFFFFFFFFFFF  # intptr_t in a 64-bit slot
        _scroll_viewport(self._t, sv[0])

    def scroll_to_bottom(self) -> None:
        sv = ffi.new("CoderTuiScrollViewport*")
        sv.tag = lib.GHOSTTY_SCROLL_VIEWPORT_BOTTOM
        _scroll_viewport(self._t, sv[0])

    def scroll_to_top(self) -> None:
        sv = ffi.new("CoderTuiScrollViewport*")
        sv.tag = lib.GHOSTTY_SCROLL_VIEWPORT_TOP
        _scroll_viewport(self._t, sv[0])

    @property
    def scrollback(self) -> ScrollbackPosition:
        bar = ffi.new("GhosttyTerminalScrollbar*")
        _check(
            lib.ghostty_terminal_get(self._t, lib.GHOSTTY_TERMINAL_DATA_SCROLLBAR, bar), "scrollbar"
        )
        return ScrollbackPosition(int(bar.total), int(bar.offset), int(bar.len))

    @property
    def scrollback_rows(self) -> int:
        """Rows of history above the active screen."""
        return int(self._term.get("scrollback_rows", "size_t"))

    # --- render state -------------------------------------------------------------------------

    def update(self) -> int:
        """Snapshot the terminal for reading; returns 0 (clean), 1 (some rows) or 2 (all rows)."""
        _check(lib.ghostty_render_state_update(self._state[0], self._t), "render_state_update")
        dirty = ffi.new("GhosttyRenderStateDirty*")
        _check(
            lib.ghostty_render_state_get(
                self._state[0], lib.GHOSTTY_RENDER_STATE_DATA_DIRTY, dirty
            ),
            "dirty",
        )
        return int(dirty[0])

    def dirty_rows(self) -> dict[int, Row]:
        """Rows changed since the last call, by viewport index, and mark them clean.

        This is the renderer's hot path: only dirty rows are read out of the C side.
        """
        if self.update() == 0:
            return {}
        rows = dict(self._iter_rows(only_dirty=True, clean=True))
        self._mark_clean()
        return rows

    def all_rows(self) -> list[Row]:
        """Every viewport row (after a resize, or for a snapshot), and mark them clean."""
        self.update()
        rows = [row for _, row in self._iter_rows(only_dirty=False, clean=True)]
        self._mark_clean()
        return rows

    def cursor(self) -> Cursor:
        """The cursor as the renderer should draw it, from the last update()."""
        c = ffi.new("GhosttyRenderStateCursor*")
        c.size = ffi.sizeof("GhosttyRenderStateCursor")
        _check(
            lib.ghostty_render_state_get(self._state[0], lib.GHOSTTY_RENDER_STATE_DATA_CURSOR, c),
            "cursor",
        )
        on_view = bool(c.viewport_has_value)
        return Cursor(
            x=int(c.viewport_x) if on_view else None,
            y=int(c.viewport_y) if on_view else None,
            visible=bool(c.visible),
            shape=CursorShape(int(c.visual_style)),
            wide_tail=bool(c.wide_tail),
        )

    def default_colors(self) -> tuple[Rgb, Rgb]:
        """The terminal's current default (fg, bg): the child may change them with OSC 10/11."""
        colors = ffi.new("GhosttyRenderStateColors*")
        colors.size = ffi.sizeof("GhosttyRenderStateColors")
        _check(
            lib.ghostty_render_state_get(
                self._state[0], lib.GHOSTTY_RENDER_STATE_DATA_COLORS, colors
            ),
            "colors",
        )
        f, b = colors.foreground, colors.background
        return (f.r, f.g, f.b), (b.r, b.g, b.b)

    def _mark_clean(self) -> None:
        _check(
            lib.ghostty_render_state_set(
                self._state[0], lib.GHOSTTY_RENDER_STATE_OPTION_DIRTY, ffi.new("int*", 0)
            ),
            "clear dirty",
        )

    def _iter_rows(self, *, only_dirty: bool, clean: bool) -> Iterator[tuple[int, Row]]:
        it = self._rows_iter[0]
        _check(
            lib.ghostty_render_state_get(
                self._state[0], lib.GHOSTTY_RENDER_STATE_DATA_ROW_ITERATOR, self._rows_iter
            ),
            "row iterator",
        )
        flag = self._bool
        false = ffi.new("bool*", False)
        y = -1
        while lib.ghostty_render_state_row_iterator_next(it):
            y += 1
            if only_dirty:
                lib.ghostty_render_state_row_get(it, lib.GHOSTTY_RENDER_STATE_ROW_DATA_DIRTY, flag)
                if not flag[0]:
                    continue
            _check(
                lib.ghostty_render_state_row_get(
                    it, lib.GHOSTTY_RENDER_STATE_ROW_DATA_CELLS, self._cells
                ),
                "row cells",
            )
            yield y, self._read_row()
            if clean:
                lib.ghostty_render_state_row_set(
                    it, lib.GHOSTTY_RENDER_STATE_ROW_OPTION_DIRTY, false
                )

    def _read_row(self) -> Row:
        """Walk one row's cells into runs of equal style."""
        if _RAW_LAYOUT_OK:
            view = self._cells_view
            lib.ghostty_render_state_row_get(
                self._rows_iter[0], lib.GHOSTTY_RENDER_STATE_ROW_DATA_CELLS_RAW, view
            )
            if view.len:
                raw = memoryview(ffi.buffer(view.ptr, view.len * 8)).cast("Q").tolist()
                return self._read_row_raw(raw)
        return self._read_row_slow()

    def _read_row_raw(self, raw: list[int]) -> Row:
        """Decode the row's packed cells in Python; ask the C side only once per distinct style
        and for multi-codepoint graphemes. About 10x faster than a call per cell field."""
        cells = self._cells[0]
        select = lib.ghostty_render_state_row_cells_select
        styles: dict[int, CellStyle] = {}
        runs: list[Run] = []
        text: list[str] = []
        run_style = DEFAULT_STYLE
        run_cells = 0
        for x, v in enumerate(raw):
            wide = (v >> _WIDE_SHIFT) & 3
            if wide == _SPACER_TAIL:
                continue  # the wide char before it covers this column
            tag = v & 3
            if tag == _TAG_CODEPOINT:
                cp = (v >> _CP_SHIFT) & _CP_MASK
                ch = chr(cp) if cp else " "
            elif tag == _TAG_GRAPHEME:
                select(cells, x)
                ch = self._grapheme()
            else:
                ch = " "  # a cell that only carries a background colour
            if wide == _SPACER_HEAD:
                ch = " "  # pads a wide char that wrapped to the next row
            style_id = (v >> _STYLE_SHIFT) & 0xFFFF
            if style_id == 0 and tag < _TAG_BG_PALETTE:
                style = DEFAULT_STYLE
            else:
                key = style_id if tag < _TAG_BG_PALETTE else -1 - (v & _CONTENT_MASK)
                found = styles.get(key)
                if found is None:
                    select(cells, x)
                    found = styles[key] = self._cell_style() if style_id else self._bg_only_style()
                style = found
            if wide == _WIDE or tag == _TAG_GRAPHEME:
                # A run of its own, so the renderer can fit it to exactly the cells Ghostty
                # gave it even where its own width table disagrees.
                if text:
                    runs.append(Run("".join(text), run_style, run_cells))
                    text = []
                    run_cells = 0
                runs.append(Run(ch, style, 2 if wide == _WIDE else 1))
                continue
            if style is not run_style:
                if text:
                    runs.append(Run("".join(text), run_style, run_cells))
                    text = []
                    run_cells = 0
                run_style = style
            text.append(ch)
            run_cells += 1
        if text:
            runs.append(Run("".join(text), run_style, run_cells))
        return tuple(runs)

    def _grapheme(self) -> str:
        get = lib.ghostty_render_state_row_cells_get
        get(self._cells[0], _CELLS_GRAPHEMES_LEN, self._u32)
        n = self._u32[0]
        if n == 0:
            return " "
        gbuf = self._grapheme_buf
        if n > len(gbuf):
            gbuf = self._grapheme_buf = ffi.new("uint32_t[]", n)
        get(self._cells[0], _CELLS_GRAPHEMES_BUF, gbuf)
        return "".join(chr(gbuf[i]) for i in range(n))

    def _read_row_slow(self) -> Row:
        """Per-cell path through the public accessors; used if the packed layout ever changes."""
        cells = self._cells[0]
        get = lib.ghostty_render_state_row_cells_get
        nxt = lib.ghostty_render_state_row_cells_next
        raw, wide, flag = self._raw_cell, self._wide, self._bool
        runs: list[Run] = []
        text: list[str] = []
        run_style = DEFAULT_STYLE
        run_cells = 0
        while nxt(cells):
            get(cells, _CELLS_RAW, raw)
            lib.ghostty_cell_get(raw[0], lib.GHOSTTY_CELL_DATA_WIDE, wide)
            w = wide[0]
            if w == _SPACER_TAIL:
                continue
            ch = " " if w == _SPACER_HEAD else self._grapheme()
            get(cells, _CELLS_HAS_STYLING, flag)
            style = self._cell_style() if flag[0] else self._bg_only_style()
            if w == _WIDE or len(ch) > 1:
                if text:
                    runs.append(Run("".join(text), run_style, run_cells))
                    text = []
                    run_cells = 0
                runs.append(Run(ch, style, 2 if w == _WIDE else 1))
                continue
            if style != run_style:
                if text:
                    runs.append(Run("".join(text), run_style, run_cells))
                    text = []
                    run_cells = 0
                run_style = style
            text.append(ch)
            run_cells += 1
        if text:
            runs.append(Run("".join(text), run_style, run_cells))
        return tuple(runs)

    def _color(self, key: int) -> Rgb | None:
        if lib.ghostty_render_state_row_cells_get(self._cells[0], key, self._rgb) != 0:
            return None
        c = self._rgb
        return (c.r, c.g, c.b)

    def _bg_only_style(self) -> CellStyle:
        # An unstyled cell can still carry a background colour (erase with a coloured bg).
        bg = self._color(_CELLS_BG)
        return DEFAULT_STYLE if bg is None else self._intern(bg=bg)

    def _cell_style(self) -> CellStyle:
        st = self._style
        _check(lib.ghostty_render_state_row_cells_get(self._cells[0], _CELLS_STYLE, st), "style")
        fg = self._color(_CELLS_FG)
        bg = self._color(_CELLS_BG)
        return self._intern(
            fg=fg,
            bg=bg,
            bold=bool(st.bold),
            faint=bool(st.faint),
            italic=bool(st.italic),
            underline=int(st.underline),
            strikethrough=bool(st.strikethrough),
            inverse=bool(st.inverse),
            blink=bool(st.blink),
            invisible=bool(st.invisible),
            overline=bool(st.overline),
        )

    def _intern(self, **fields: Any) -> CellStyle:
        """One CellStyle object per distinct look, so runs compare with ``is`` and caches stay
        small; the look itself is the key, however the fields were spelled."""
        style = CellStyle(**fields)
        if style == DEFAULT_STYLE:
            return DEFAULT_STYLE
        found = self._style_cache.get(style)
        if found is None:
            if len(self._style_cache) > 4096:
                self._style_cache.clear()
            found = self._style_cache[style] = style
        return found

    # --- encoding input for the child ------------------------------------------------------------

    def encode_keystroke(self, stroke: KeyStroke) -> bytes:
        """Bytes for one key press, following the child's modes (DECCKM, kitty flags, ...)."""
        key = getattr(lib, f"GHOSTTY_KEY_{stroke.key}", lib.GHOSTTY_KEY_UNIDENTIFIED)
        data = self.encode_key(key, stroke.mods, stroke.text, unshifted=stroke.unshifted)
        if data:
            return data
        if stroke.legacy:
            return stroke.legacy  # a control combination the encoder has no answer for
        if stroke.text and not stroke.mods & MOD_CTRL:
            return stroke.text.encode()  # a character the encoder has no key for: type it
        return b""

    def encode_key(self, key: int, mods: int = 0, text: str = "", *, unshifted: str = "") -> bytes:
        """Bytes for one key press; ``key`` is a ``GHOSTTY_KEY_*`` value, ``text`` the character
        the key produces, ``unshifted`` the character without shift (kitty encoding needs it).
        """
        enc, ev = self._key_encoder[0], self._key_event[0]
        lib.ghostty_key_encoder_setopt_from_terminal(enc, self._t)
        lib.ghostty_key_event_set_action(ev, lib.GHOSTTY_KEY_ACTION_PRESS)
        lib.ghostty_key_event_set_key(ev, key)
        lib.ghostty_key_event_set_mods(ev, mods)
        lib.ghostty_key_event_set_consumed_mods(ev, MOD_SHIFT if text and mods & MOD_SHIFT else 0)
        utf8 = text.encode()
        keep = ffi.new("char[]", utf8) if utf8 else ffi.NULL
        lib.ghostty_key_event_set_utf8(ev, keep, len(utf8))
        lib.ghostty_key_event_set_unshifted_codepoint(ev, ord(unshifted[0]) if unshifted else 0)
        _check(
            lib.ghostty_key_encoder_encode(
                enc, ev, self._out_buf, len(self._out_buf), self._out_len
            ),
            "key encode",
        )
        return bytes(ffi.buffer(self._out_buf, self._out_len[0]))

    def encode_paste(self, text: str) -> bytes:
        """Text as the child should receive a paste: bracketed when it enabled ?2004.

        Inside brackets an embedded end marker would let pasted text escape the paste and run
        as keys, so it is removed; newlines become CR as a real terminal sends them unbracketed.
        """
        data = text.replace("\r\n", "\n")
        while "\x1b[201~" in data:  # a nested marker re-forms after one pass
            data = data.replace("\x1b[201~", "")
        if self.bracketed_paste:
            return b"\x1b[200~" + data.encode() + b"\x1b[201~"
        return data.replace("\n", "\r").encode()

    def encode_focus(self, gained: bool) -> bytes:
        """Focus in/out report, or b'' when the child did not ask for them (?1004)."""
        if not self.focus_reporting:
            return b""
        return b"\x1b[I" if gained else b"\x1b[O"

    def encode_mouse(
        self,
        button: int,
        x: int,
        y: int,
        *,
        press: bool = True,
        motion: bool = False,
        mods: int = 0,
    ) -> bytes:
        """A mouse report in the format and tracking mode the child chose, or b'' when it
        asked for none. ``button``: 1 left, 2 right, 3 middle, 4/5 wheel up/down."""
        enc, ev = self._mouse_encoder[0], self._mouse_event[0]
        cols, rows = self.size
        size = ffi.new("GhosttyMouseEncoderSize*")
        size.size = ffi.sizeof("GhosttyMouseEncoderSize")
        size.screen_width, size.screen_height = cols, rows
        size.cell_width = size.cell_height = 1
        lib.ghostty_mouse_encoder_setopt_from_terminal(enc, self._t)
        lib.ghostty_mouse_encoder_setopt(enc, lib.GHOSTTY_MOUSE_ENCODER_OPT_SIZE, size)
        if motion:
            action = lib.GHOSTTY_MOUSE_ACTION_MOTION
        else:
            action = lib.GHOSTTY_MOUSE_ACTION_PRESS if press else lib.GHOSTTY_MOUSE_ACTION_RELEASE
        lib.ghostty_mouse_event_set_action(ev, action)
        if button:
            lib.ghostty_mouse_event_set_button(ev, button)
        else:
            lib.ghostty_mouse_event_clear_button(ev)
        lib.ghostty_mouse_event_set_mods(ev, mods)
        pos = ffi.new("GhosttyMousePosition*")
        pos.x, pos.y = x + 0.5, y + 0.5
        lib.ghostty_mouse_event_set_position(ev, pos[0])
        result = lib.ghostty_mouse_encoder_encode(
            enc, ev, self._out_buf, len(self._out_buf), self._out_len
        )
        if result != 0:
            return b""
        return bytes(ffi.buffer(self._out_buf, self._out_len[0]))

    # --- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Free the native objects now rather than at garbage collection."""
        if self._closed:
            return
        self._closed = True
        lib.ghostty_render_state_row_cells_free(self._cells[0])
        lib.ghostty_render_state_row_iterator_free(self._rows_iter[0])
        lib.ghostty_render_state_free(self._state[0])
        lib.ghostty_key_event_free(self._key_event[0])
        lib.ghostty_key_encoder_free(self._key_encoder[0])
        lib.ghostty_mouse_event_free(self._mouse_event[0])
        lib.ghostty_mouse_encoder_free(self._mouse_encoder[0])
        self._term.close()

    def __enter__(self) -> Screen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_RAW_LAYOUT_OK = _raw_layout_matches()
