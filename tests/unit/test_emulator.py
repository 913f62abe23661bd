"""coder_tui.core.emulator.Screen: byte streams with known screens, device replies, modes,
scrollback, reflow, dirty tracking, input encoding, and guards on the C ABI the module binds.

Every expectation here was derived from what a VT100/xterm-compatible terminal must show for
the bytes fed, not read back from the implementation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coder_tui.core import emulator
from coder_tui.core.emulator import (
    DEFAULT_STYLE,
    MODE_CURSOR_VISIBLE,
    CellStyle,
    CursorShape,
    Row,
    Run,
    Screen,
)

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def make_screen() -> Iterator[Callable[..., Screen]]:
    """Screen factory; every screen made is closed at teardown."""
    made: list[Screen] = []

    def factory(cols: int = 20, rows: int = 5, data: bytes | str = b"", **kwargs: Any) -> Screen:
        screen = Screen(cols, rows, **kwargs)
        made.append(screen)
        if data:
            screen.feed(data.encode() if isinstance(data, str) else data)
        return screen

    yield factory
    for screen in made:
        screen.close()


def lines(screen: Screen) -> list[str]:
    """Every viewport row as text (fresh snapshot first: row_text reads the render state)."""
    screen.update()
    return [screen.row_text(y) for y in range(screen.rows)]


def row_cells(row: Row) -> int:
    return sum(run.cells for run in row)


def run_at(row: Row, text: str) -> Run:
    """The run whose text starts with ``text``."""
    for run in row:
        if run.text.startswith(text):
            return run
    raise AssertionError(f"no run starting with {text!r} in {row!r}")


def snapshot(screen: Screen) -> tuple[object, ...]:
    rows = screen.all_rows()
    return (rows, screen.title, screen.cursor_position, screen.cursor(), screen.alt_screen)


# --- cursor movement ------------------------------------------------------------------------


def test_cup_and_relative_cursor_moves(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5, b"\x1b[3;4HX\x1b[2AY\x1b[3BZ\x1b[2CW\x1b[5DV")
    assert lines(s) == ["    Y", "", "   X", "    VZ  W", ""]
    assert s.cursor_position == (5, 3)


def test_cursor_moves_clamp_at_screen_edges(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5, b"\x1b[99;99HQ\x1b[99A\x1b[99DH")
    assert lines(s) == ["H", "", "", "", "         Q"]
    assert s.cursor_position == (1, 0)


def test_backspace_and_tab(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(20, 2, b"ab\bc\tX")
    assert lines(s)[0] == "ac      X"
    assert s.cursor_position == (9, 0)


# --- erase ------------------------------------------------------------------------------------

_FOUR_LINES = b"abcdefghij\r\nklmnopqrst\r\nuvwxyzABCD\r\nEFGHIJKLMN\x1b[2;5H"


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        (b"\x1b[J", ["abcdefghij", "klmn", "", ""]),
        (b"\x1b[0J", ["abcdefghij", "klmn", "", ""]),
        (b"\x1b[1J", ["", "     pqrst", "uvwxyzABCD", "EFGHIJKLMN"]),
        (b"\x1b[2J", ["", "", "", ""]),
    ],
)
def test_erase_in_display(
    make_screen: Callable[..., Screen], seq: bytes, expected: list[str]
) -> None:
    s = make_screen(10, 4, _FOUR_LINES + seq)
    assert lines(s) == expected
    assert s.cursor_position == (4, 1)  # ED never moves the cursor


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        (b"\x1b[K", "abcd"),
        (b"\x1b[0K", "abcd"),
        (b"\x1b[1K", "     fghij"),
        (b"\x1b[2K", ""),
        (b"\x1b[2X", "abcd  ghij"),  # ECH: erase characters
    ],
)
def test_erase_in_line(make_screen: Callable[..., Screen], seq: bytes, expected: str) -> None:
    s = make_screen(10, 3, b"abcdefghij\r\nnext\x1b[1;5H" + seq)
    assert lines(s) == [expected, "next", ""]


# --- scroll regions, insert/delete ---------------------------------------------------------

_FIVE = b"1\r\n2\r\n3\r\n4\r\n5"


def test_linefeed_at_bottom_of_scroll_region_scrolls_only_the_region(
    make_screen: Callable[..., Screen],
) -> None:
    s = make_screen(10, 5, _FIVE + b"\x1b[2;4r\x1b[4;1H\nX")
    assert lines(s) == ["1", "3", "4", "X", "5"]
    assert s.scrollback_rows == 0  # a region scroll never feeds history


def test_reverse_index_at_top_of_scroll_region(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5, _FIVE + b"\x1b[2;4r\x1b[2;1H\x1bMX")
    assert lines(s) == ["1", "X", "2", "3", "5"]


def test_scroll_up_inside_region(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5, _FIVE + b"\x1b[2;4r\x1b[S")
    assert lines(s) == ["1", "3", "4", "", "5"]


def test_scroll_down_whole_screen(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5, _FIVE + b"\x1b[2T")
    assert lines(s) == ["", "", "1", "2", "3"]


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        (b"\x1b[2;1H\x1b[L", ["1", "", "2", "3", "4"]),  # IL
        (b"\x1b[2;1H\x1b[2M", ["1", "4", "5", "", ""]),  # DL
    ],
)
def test_insert_delete_lines(
    make_screen: Callable[..., Screen], seq: bytes, expected: list[str]
) -> None:
    s = make_screen(10, 5, _FIVE + seq)
    assert lines(s) == expected


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        (b"\x1b[2@", "ab  cdef"),  # ICH
        (b"\x1b[2P", "abef"),  # DCH
    ],
)
def test_insert_delete_chars(make_screen: Callable[..., Screen], seq: bytes, expected: str) -> None:
    s = make_screen(10, 2, b"abcdef\x1b[1;3H" + seq)
    assert lines(s)[0] == expected


# --- SGR ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sgr", "field", "value"),
    [
        ("1", "bold", True),
        ("2", "faint", True),
        ("3", "italic", True),
        ("4", "underline", 1),
        ("21", "underline", 2),
        ("4:3", "underline", 3),
        ("5", "blink", True),
        ("7", "inverse", True),
        ("8", "invisible", True),
        ("9", "strikethrough", True),
        ("53", "overline", True),
    ],
)
def test_sgr_attribute(
    make_screen: Callable[..., Screen], sgr: str, field: str, value: Any
) -> None:
    s = make_screen(10, 1, f"a\x1b[{sgr}mX\x1b[0mb")
    row = s.all_rows()[0]
    assert [r.text for r in row[:2]] == ["a", "X"]
    assert row[2].text.startswith("b")
    styled = run_at(row, "X")
    assert styled.style == CellStyle(**{field: value})
    assert row[0].style == DEFAULT_STYLE
    assert row[2].style == DEFAULT_STYLE  # SGR 0 resets everything


def test_sgr_combined_and_selective_reset(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 1, b"\x1b[1;3;4;9mA\x1b[22;23mB")
    row = s.all_rows()[0]
    assert run_at(row, "A").style == CellStyle(
        bold=True, italic=True, underline=1, strikethrough=True
    )
    assert run_at(row, "B").style == CellStyle(underline=1, strikethrough=True)


@pytest.mark.parametrize(
    ("sgr", "field", "rgb"),
    [
        ("38;5;196", "fg", (255, 0, 0)),
        ("38;5;208", "fg", (255, 135, 0)),
        ("48;5;21", "bg", (0, 0, 255)),
        ("38;5;232", "fg", (8, 8, 8)),
        ("48;5;244", "bg", (128, 128, 128)),
        ("38;2;1;2;3", "fg", (1, 2, 3)),
        ("48;2;250;128;7", "bg", (250, 128, 7)),
        ("38:2::4:5:6", "fg", (4, 5, 6)),
        ("48:2::10:11:12", "bg", (10, 11, 12)),
    ],
)
def test_256_and_truecolor(
    make_screen: Callable[..., Screen], sgr: str, field: str, rgb: tuple[int, int, int]
) -> None:
    s = make_screen(10, 1, f"\x1b[{sgr}mX\x1b[0m")
    style = run_at(s.all_rows()[0], "X").style
    assert getattr(style, field) == rgb
    other = "bg" if field == "fg" else "fg"
    assert getattr(style, other) is None


@pytest.mark.parametrize(
    ("sgr16", "sgr256", "field"),
    [
        ("31", "38;5;1", "fg"),
        ("34", "38;5;4", "fg"),
        ("91", "38;5;9", "fg"),
        ("41", "48;5;1", "bg"),
    ],
)
def test_16_colors_resolve_to_the_palette(
    make_screen: Callable[..., Screen], sgr16: str, sgr256: str, field: str
) -> None:
    s = make_screen(10, 1, f"\x1b[{sgr16}mA\x1b[0m \x1b[{sgr256}mB\x1b[0m")
    row = s.all_rows()[0]
    a = getattr(run_at(row, "A").style, field)
    assert a is not None
    assert a == getattr(run_at(row, "B").style, field)


def test_16_colors_are_distinct(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(20, 1, "".join(f"\x1b[{30 + n}m{n}" for n in range(8)) + "\x1b[0m")
    fgs = {run.style.fg for run in s.all_rows()[0] if run.text.strip()}
    assert len(fgs) == 8


def test_default_colors_are_none(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 1, b"a\x1b[31m\x1b[44mb\x1b[39;49mc")
    row = s.all_rows()[0]
    assert run_at(row, "a").style.fg is None
    assert run_at(row, "a").style.bg is None
    assert run_at(row, "c").style == DEFAULT_STYLE


def test_erase_display_with_colored_background(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(20, 4, b"\x1b[44m\x1b[2J")
    rows = s.all_rows()
    blue = rows[0][0].style.bg
    assert blue is not None
    for row in rows:
        assert row_cells(row) == 20
        assert all(run.style.bg == blue and run.style.fg is None for run in row)


def test_erase_line_with_truecolor_background(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(12, 2, b"\x1b[48;2;10;20;30m\x1b[K\x1b[0m\r\nplain")
    rows = s.all_rows()
    assert [(r.text, r.style.bg) for r in rows[0]] == [(" " * 12, (10, 20, 30))]
    assert all(run.style.bg is None for run in rows[1])


# --- wide characters, emoji, combining marks ------------------------------------------------


def test_wide_cjk_is_its_own_run_of_two_cells(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 1, "a中b")
    row = s.all_rows()[0]
    assert row[0] == Run("a", DEFAULT_STYLE, 1)
    assert row[1] == Run("中", DEFAULT_STYLE, 2)
    assert row[2].text.startswith("b")
    assert row_cells(row) == 10
    assert s.cursor_position == (4, 0)
    assert lines(s)[0] == "a中b"


def test_emoji_is_its_own_run_of_two_cells(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(8, 1, "x😀y\x1b[31m🎉")
    row = s.all_rows()[0]
    assert Run("😀", DEFAULT_STYLE, 2) in row
    party = run_at(row, "🎉")
    assert party.cells == 2
    assert party.style.fg is not None  # the style travels with a wide run
    assert row_cells(row) == 8
    assert s.cursor_position == (6, 0)


def test_combining_mark_is_one_cell_in_its_own_run(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 1, "ae\u0301x")
    row = s.all_rows()[0]
    assert row[0] == Run("a", DEFAULT_STYLE, 1)
    assert row[1] == Run("e\u0301", DEFAULT_STYLE, 1)
    assert row[2].text.startswith("x")
    assert row_cells(row) == 10
    assert s.cursor_position == (3, 0)


def test_wide_char_at_last_column_wraps_whole(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(5, 3, "abcd中")
    assert lines(s) == ["abcd", "中", ""]
    rows = s.all_rows()
    assert all(row_cells(row) == 5 for row in rows)
    assert run_at(rows[1], "中").cells == 2


def test_full_row_of_wide_chars_sums_to_cols(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(9, 2, "中文字符号")  # 10 cells into 9 columns: the 5th wraps
    rows = s.all_rows()
    assert [r.text for r in rows[0] if r.cells == 2] == list("中文字符")
    assert lines(s)[1] == "号"
    assert all(row_cells(row) == 9 for row in rows)


# --- alternate screen -------------------------------------------------------------------------


def test_alt_screen_enter_draw_leave_restores_primary(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 3, b"primary\r\nline2")
    assert not s.alt_screen
    s.feed(b"\x1b[?1049h")
    assert s.alt_screen
    assert lines(s) == ["", "", ""]
    s.feed(b"\x1b[Halt!\x1b[3;1Hbottom")
    assert lines(s) == ["alt!", "", "bottom"]
    s.feed(b"\x1b[?1049l")
    assert not s.alt_screen
    assert lines(s) == ["primary", "line2", ""]
    assert s.cursor_position == (5, 1)  # ?1049 saves and restores the cursor


def test_alt_screen_output_does_not_reach_scrollback(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 3, b"\x1b[?1049h" + b"x\r\n" * 50 + b"\x1b[?1049l")
    assert s.scrollback_rows == 0
    assert "x" not in s.contents()


# --- modes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "attr"),
    [
        (2026, "synchronized_output"),
        (2004, "bracketed_paste"),
        (1, "app_cursor"),
        (1004, "focus_reporting"),
        (1049, "alt_screen"),
        (9, "mouse_tracking"),
        (1000, "mouse_tracking"),
        (1002, "mouse_tracking"),
        (1003, "mouse_tracking"),
    ],
)
def test_private_mode_toggles(make_screen: Callable[..., Screen], mode: int, attr: str) -> None:
    s = make_screen(10, 2)
    assert getattr(s, attr) is False
    assert s.mode(mode) is False
    s.feed(f"\x1b[?{mode}h".encode())
    assert getattr(s, attr) is True
    assert s.mode(mode) is True
    s.feed(f"\x1b[?{mode}l".encode())
    assert getattr(s, attr) is False


def test_mouse_sgr_format_alone_is_not_tracking(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 2, b"\x1b[?1006h")
    assert s.mode(1006)
    assert not s.mouse_tracking


def test_mode_set_and_reset_in_one_sequence(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 2, b"\x1b[?2004;1004;1h")
    assert (s.bracketed_paste, s.focus_reporting, s.app_cursor) == (True, True, True)
    s.feed(b"\x1b[?2004;1l")
    assert (s.bracketed_paste, s.focus_reporting, s.app_cursor) == (False, True, False)


def test_kitty_keyboard_flags_push_and_pop(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 2)
    assert s.kitty_keyboard_flags == 0
    s.feed(b"\x1b[>1u")
    assert s.kitty_keyboard_flags == 1
    s.feed(b"\x1b[>5u")
    assert s.kitty_keyboard_flags == 5
    s.feed(b"\x1b[<u")
    assert s.kitty_keyboard_flags == 1
    s.feed(b"\x1b[<u")
    assert s.kitty_keyboard_flags == 0


# --- mouse ------------------------------------------------------------------------------------


def test_encode_mouse_without_mouse_mode_is_empty(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5)
    assert s.encode_mouse(4, 2, 3) == b""
    assert s.encode_mouse(1, 0, 0) == b""
    s.feed(b"\x1b[?1006h")  # a format without a tracking mode still reports nothing
    assert s.encode_mouse(4, 2, 3) == b""


def test_encode_mouse_sgr(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5, b"\x1b[?1000h\x1b[?1006h")
    assert s.encode_mouse(4, 2, 3) == b"\x1b[<64;3;4M"  # wheel up, 1-based coordinates
    assert s.encode_mouse(5, 2, 3) == b"\x1b[<65;3;4M"  # wheel down
    assert s.encode_mouse(1, 0, 0) == b"\x1b[<0;1;1M"
    assert s.encode_mouse(1, 0, 0, press=False) == b"\x1b[<0;1;1m"
    assert s.encode_mouse(3, 9, 4) == b"\x1b[<1;10;5M"  # middle
    assert s.encode_mouse(2, 9, 4) == b"\x1b[<2;10;5M"  # right


def test_encode_mouse_x10_encoding_without_sgr(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5, b"\x1b[?1000h")
    assert s.encode_mouse(1, 2, 1) == b"\x1b[M" + bytes([32 + 0, 33 + 2, 33 + 1])
    assert s.encode_mouse(4, 2, 1) == b"\x1b[M" + bytes([32 + 64, 33 + 2, 33 + 1])
    assert s.encode_mouse(1, 2, 1, press=False) == b"\x1b[M" + bytes([32 + 3, 33 + 2, 33 + 1])


def test_encode_mouse_motion_only_in_any_event_mode(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 5, b"\x1b[?1000h\x1b[?1006h")
    assert s.encode_mouse(0, 2, 3, motion=True) == b""
    s.feed(b"\x1b[?1003h")
    assert s.encode_mouse(0, 2, 3, motion=True) == b"\x1b[<35;3;4M"


# --- OSC: hyperlinks and titles -------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\x1b]8;;http://x.y/\x1b\\link\x1b]8;;\x1b\\ after",
        b"\x1b]8;id=7;https://example.com/a?b=c\x07link\x1b]8;;\x07 after",
    ],
)
def test_osc8_hyperlink_shows_only_visible_text(
    make_screen: Callable[..., Screen], data: bytes
) -> None:
    s = make_screen(20, 2, data)
    assert lines(s) == ["link after", ""]
    assert s.cursor_position == (10, 0)


@pytest.mark.parametrize(
    ("data", "title"),
    [
        (b"\x1b]0;one\x07", "one"),
        (b"\x1b]0;one\x1b\\", "one"),
        (b"\x1b]2;two\x07", "two"),
        (b"\x1b]2;two\x1b\\", "two"),
        ("\x1b]2;été 🚀\x07".encode(), "été 🚀"),
    ],
)
def test_osc_title(make_screen: Callable[..., Screen], data: bytes, title: str) -> None:
    s = make_screen(10, 2)
    assert s.title == ""
    s.feed(data + b"text")
    assert s.title == title
    assert lines(s)[0] == "text"  # the title does not leak onto the screen


def test_on_title_fires_once_per_change(make_screen: Callable[..., Screen]) -> None:
    titles: list[str] = []
    s = make_screen(10, 2, on_title=titles.append)
    s.feed(b"\x1b]0;one\x07")
    s.feed(b"\x1b]0;one\x07plain")
    s.feed(b"\x1b]2;tw")
    assert titles == ["one"]
    s.feed(b"o\x07")
    assert titles == ["one", "two"]


# --- autowrap ---------------------------------------------------------------------------------


def test_writing_cols_plus_one_wraps_one_char(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(5, 3, b"abcdef")
    assert lines(s) == ["abcde", "f", ""]
    assert s.cursor_position == (1, 1)
    assert s.contents().splitlines()[0] == "abcdef"  # a soft wrap, joined in contents()


def test_writing_exactly_cols_leaves_wrap_pending(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(5, 3, b"abcde")
    assert lines(s) == ["abcde", "", ""]
    assert s.cursor_position == (4, 0)
    s.feed(b"\r\nx")  # CR clears the pending wrap: no blank line in between
    assert lines(s) == ["abcde", "x", ""]


def test_untrimmed_contents_keep_written_spaces_only(make_screen: Callable[..., Screen]) -> None:
    # Written trailing spaces and a line of written spaces are text; an erased line, a
    # never-written line and the cells after the text are not. Soft wraps are still joined.
    data = "abc   \r\n  \r\ngone\x1b[2K\r\n\r\n" + "L" * 12 + "  \r\n🇯🇵 中 \r\nend"
    s = make_screen(5, 10, data)
    assert s.contents(trim=False) == "abc   \n  \n\n\n" + "L" * 12 + "  \n🇯🇵 中 \nend"
    assert s.contents() == "abc\n\n\n\n" + "L" * 12 + "\n🇯🇵 中\nend"


def test_decawm_off_does_not_wrap(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(5, 3, b"\x1b[?7labcdef")
    assert lines(s) == ["abcdf", "", ""]
    assert s.cursor_position == (4, 0)
    s.feed(b"\x1b[?7h\rABCDEFG")
    assert lines(s) == ["ABCDE", "FG", ""]


# --- device queries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "query", "pattern"),
    [
        (b"\x1b[3;7H", b"\x1b[6n", rb"\x1b\[3;7R"),  # DSR CPR, 1-based
        (b"", b"\x1b[5n", rb"\x1b\[0n"),  # DSR status: OK
        (b"", b"\x1b[c", rb"\x1b\[\?\d+(;\d+)*c"),  # DA1
        (b"", b"\x1b[0c", rb"\x1b\[\?\d+(;\d+)*c"),
        (b"", b"\x1b[>c", rb"\x1b\[>\d+;\d+;\d+c"),  # DA2
        (b"", b"\x1b[>q", rb"\x1bP>\|[^\x1b]+\x1b\\"),  # XTVERSION
        (b"", b"\x1b[?2026$p", rb"\x1b\[\?2026;2\$y"),  # DECRQM: known, reset
        (b"\x1b[?2026h", b"\x1b[?2026$p", rb"\x1b\[\?2026;1\$y"),  # DECRQM: set
        (b"\x1b[?1049h", b"\x1b[?1049$p", rb"\x1b\[\?1049;1\$y"),
        (b"", b"\x1b[?9999$p", rb"\x1b\[\?9999;0\$y"),  # DECRQM: not recognised
        (b"", b"\x1b[?u", rb"\x1b\[\?0u"),  # kitty keyboard flags query
        (b"\x1b[>1u", b"\x1b[?u", rb"\x1b\[\?1u"),
        (b"", b"\x1b]11;?\x07", rb"\x1b\]11;rgb:0000/0000/0000\x07"),  # OSC 11 bg
        (b"", b"\x1b]11;?\x1b\\", rb"\x1b\]11;rgb:0000/0000/0000\x1b\\"),
        (b"", b"\x1b]10;?\x07", rb"\x1b\]10;rgb:ffff/ffff/ffff\x07"),  # OSC 10 fg
        (b"", b"\x1b]4;1;?\x07", rb"\x1b\]4;1;rgb:[0-9a-f]{4}/[0-9a-f]{4}/[0-9a-f]{4}\x07"),
    ],
)
def test_device_query_reply(
    make_screen: Callable[..., Screen], prefix: bytes, query: bytes, pattern: bytes
) -> None:
    replies: list[bytes] = []
    s = make_screen(20, 5, on_reply=replies.append, default_fg=WHITE, default_bg=BLACK)
    s.feed(prefix)
    replies.clear()
    s.feed(query)
    assert len(replies) == 1, replies
    assert re.fullmatch(pattern, replies[0]), replies[0]
    assert s.text().strip() == ""  # queries draw nothing


def test_cpr_follows_the_cursor(make_screen: Callable[..., Screen]) -> None:
    replies: list[bytes] = []
    s = make_screen(20, 5, on_reply=replies.append)
    s.feed(b"\x1b[6nab\r\ncde\x1b[6n\x1b[5;20H\x1b[6n")
    assert replies == [b"\x1b[1;1R", b"\x1b[2;4R", b"\x1b[5;20R"]


def test_split_query_is_answered_once(make_screen: Callable[..., Screen]) -> None:
    replies: list[bytes] = []
    s = make_screen(20, 5, on_reply=replies.append)
    for byte in b"\x1b[6n":
        s.feed(bytes([byte]))
    assert replies == [b"\x1b[1;1R"]


def test_color_queries_unanswered_without_default_colors(
    make_screen: Callable[..., Screen],
) -> None:
    replies: list[bytes] = []
    s = make_screen(20, 5, on_reply=replies.append)
    s.feed(b"\x1b]11;?\x07\x1b]10;?\x1b\\ok")
    assert replies == []
    assert lines(s)[0] == "ok"


def test_default_colors_follow_osc_10_11(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 2, default_fg=WHITE, default_bg=BLACK)
    s.update()
    assert s.default_colors() == (WHITE, BLACK)
    s.feed(b"\x1b]11;rgb:12/34/56\x07\x1b]10;#abcdef\x07")
    s.update()
    assert s.default_colors() == ((0xAB, 0xCD, 0xEF), (0x12, 0x34, 0x56))


# --- streams cut anywhere -------------------------------------------------------------------

RICH_STREAM = (
    b"\x1b]0;first \xe6\xbc\xa2\x07"
    b"\x1b[1;38;2;255;128;0mbold\x1b[0m \x1b[38:2::10:20:30mcolon\x1b[0m "
    b"\x1b[38;5;196mred\x1b[0m\r\n" + "中文😀e\u0301!".encode() + b"\x1b[48;5;21m\x1b[K\x1b[0m"
    b"\x1b[3;5H\x1b[4:3;3munder\x1b[0m"
    b"\x1b[?1049h\x1b[2J\x1b[Halt \xe2\x9c\x93\x1b[?1049l"
    b"\x1b[4;1H\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\"
    b"\x1b]2;final \xf0\x9f\x9a\x80\x1b\\"
    b"\x1b[5;7r\x1b[5;1Hone\r\ntwo\r\nthree\n\x1b[5;1H\x1bMzero\x1b[r"
    b"\x1b[8;10Hend\xe2\x82\xac\x1b[?25l"
)
# Ends inside the alternate screen, with a UTF-8 sequence and a CSI still open in the middle.
ALT_STREAM = (
    b"shell$ \x1b[?1049h\x1b[?2026h\x1b[2J\x1b[H\x1b[7m top bar \x1b[27m\r\n"
    + "\x1b[38;5;82m✔\x1b[0m done 漢字\r\n".encode()
    + b"\x1b]0;vim \xe2\x80\x94 file\x1b\\\x1b[?2026l\x1b[3;3H\x1b[1m\xf0\x9f\x91\x8d\x1b[0m"
)


def _fresh(cols: int = 30, rows: int = 8) -> Screen:
    return Screen(cols, rows, on_reply=lambda _b: None)


def test_rich_stream_renders_as_expected() -> None:
    """The reference state the split tests compare against is itself right."""
    with _fresh() as s:
        s.feed(RICH_STREAM)
        assert lines(s) == [
            "bold colon red",
            "中文😀e\u0301!",
            "    under",
            "link",
            "zero",
            "two",
            "three",
            "         end€",
        ]
        assert s.title == "final 🚀"
        assert s.cursor_position == (13, 7)
        assert not s.cursor().visible
        rows = s.all_rows()
        assert run_at(rows[0], "bold").style == CellStyle(fg=(255, 128, 0), bold=True)
        assert run_at(rows[0], "colon").style.fg == (10, 20, 30)
        assert run_at(rows[1], "中").cells == 2
        assert run_at(rows[1], "e\u0301").cells == 1
        assert rows[1][-1].style.bg == (0, 0, 255)
        assert run_at(rows[2], "under").style == CellStyle(italic=True, underline=3)
        assert all(row_cells(row) == 30 for row in rows)
    with _fresh() as s:
        s.feed(ALT_STREAM)
        assert s.alt_screen
        assert lines(s)[:3] == [" top bar", "✔ done 漢字", "  👍"]
        assert s.title == "vim — file"


@pytest.mark.parametrize("stream", [RICH_STREAM, ALT_STREAM], ids=["rich", "alt"])
def test_stream_split_at_every_byte_boundary(stream: bytes) -> None:
    with _fresh() as whole:
        whole.feed(stream)
        expected = snapshot(whole)
    for i in range(1, len(stream)):
        with _fresh() as s:
            s.feed(stream[:i])
            s.feed(stream[i:])
            assert snapshot(s) == expected, f"split at byte {i}: {stream[:i][-12:]!r}"


@pytest.mark.parametrize("stream", [RICH_STREAM, ALT_STREAM], ids=["rich", "alt"])
def test_stream_fed_one_byte_at_a_time(stream: bytes) -> None:
    with _fresh() as whole, _fresh() as s:
        whole.feed(stream)
        for byte in stream:
            s.feed(bytes([byte]))
        assert snapshot(s) == snapshot(whole)


def test_split_stream_with_reads_in_between_matches() -> None:
    """Reading (all_rows/dirty_rows) between partial feeds must not disturb the parser."""
    with _fresh() as whole, _fresh() as s:
        whole.feed(RICH_STREAM)
        for start in range(0, len(RICH_STREAM), 7):
            s.feed(RICH_STREAM[start : start + 7])
            s.dirty_rows()
        assert snapshot(s) == snapshot(whole)


# --- robustness (hypothesis) ------------------------------------------------------------------

_FRAGMENTS = [
    b"\x1b", b"\x1b[", b"\x1b]", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX", b"\x9b", b"\x9d",
    b"\x1b[?", b"\x1b[>", b"\x1b[<", b"\x1b[=", b"\x1b(", b"\x1b#", b"\x07", b"\x1b\\",
    b"\x18", b"\x1a", b";", b":", b"$", b" ", b"'", b'"', b"\r", b"\n", b"\x08", b"\t",
    b"\x0e", b"\x0f", b"\xe4", b"\xb8", b"\xad", b"\xf0\x9f", b"\x98\x80", b"\xcc\x81",
    b"\xff", b"\xc0\x80", b"\xed\xa0\x80", "中".encode(), "😀".encode(), "e\u0301".encode(),
    b"m", b"H", b"J", b"K", b"r", b"h", b"l", b"u", b"q", b"n", b"c", b"t", b"@", b"P",
    b"L", b"M", b"S", b"T", b"X", b"b", b"~", b"p", b"y", b"1049", b"2026", b"1000",
    b"2004", b"0;", b"8;;", b"11;?", b"10;?", b"4;1;?", b"52;c;", b"38;2;", b"38:2::",
    b"48;5;", b"+q", b"Gf=100;", b"hello", b"\x1b7", b"\x1b8", b"\x1bc", b"\x1bM", b"\x1bD",
]  # fmt: skip

_fragment = st.one_of(
    st.sampled_from(_FRAGMENTS),
    st.integers(0, 100_000).map(lambda n: str(n).encode()),
    st.binary(max_size=8),
)


def _assert_still_works(s: Screen) -> None:
    s.feed(b"\x1bc" + b"hello")
    assert lines(s)[0] == "hello"
    assert s.cursor_position == (5, 0)
    assert not s.alt_screen


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data: bytes) -> None:
    replies: list[bytes] = []
    with Screen(40, 10, on_reply=replies.append, default_fg=WHITE, default_bg=BLACK) as s:
        s.feed(data)
        rows = s.all_rows()
        assert len(rows) == s.rows
        assert all(row_cells(row) == s.cols for row in rows)
        s.cursor()
        s.contents()
        assert isinstance(s.title, str)
        _assert_still_works(s)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_fragment, max_size=300))
def test_random_fragment_mixes_never_raise(fragments: list[bytes]) -> None:
    replies: list[bytes] = []
    with Screen(40, 10, on_reply=replies.append, default_fg=WHITE, default_bg=BLACK) as s:
        for fragment in fragments:
            s.feed(fragment)
        s.dirty_rows()
        rows = s.all_rows()
        assert len(rows) == s.rows
        assert all(row_cells(row) == s.cols for row in rows)
        s.encode_mouse(4, 1, 1)
        s.encode_paste("x\ny")
        assert all(isinstance(r, bytes) and r for r in replies)
        _assert_still_works(s)


# --- scrollback -------------------------------------------------------------------------------

_NUMBERED = "".join(f"line {i}\r\n" for i in range(12_000)).encode()


def test_scrollback_is_not_capped_by_bytes(make_screen: Callable[..., Screen]) -> None:
    """The byte-cap trap: left at its default the byte cap keeps only a few hundred rows."""
    s = make_screen(80, 24, scrollback_lines=10_000)
    s.feed(_NUMBERED)
    assert s.scrollback_rows >= 10_000
    text = s.contents()
    assert "line 11999" in text.splitlines()
    assert "line 3000" in text.splitlines()
    # The line cap still prunes: a page of slack at most beyond the configured lines.
    s.feed(b"".join(b"more %d\r\n" % i for i in range(20_000)))
    assert 10_000 <= s.scrollback_rows <= 10_000 + 2048 + 1024
    assert "line 11999" not in s.contents().splitlines()


def test_scrollback_bytes_parameter_caps_history(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(80, 24, scrollback_lines=10_000, scrollback_bytes=100_000)
    s.feed(_NUMBERED)
    assert 0 < s.scrollback_rows < 2_000
    assert "line 11999" in s.contents()


def test_scrollback_keeps_at_least_the_configured_lines(
    make_screen: Callable[..., Screen],
) -> None:
    s = make_screen(80, 24, scrollback_lines=10_000)
    s.feed(_NUMBERED)
    assert s.scrollback_rows >= 10_000 - s.rows
    assert "line 2024" in s.contents().splitlines()


def test_scroll_viewport_moves_through_history(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(80, 24, scrollback_lines=10_000)
    s.feed(_NUMBERED)
    bottom = s.scrollback
    assert bottom.at_bottom
    assert bottom.visible_rows == 24
    assert bottom.total_rows == s.scrollback_rows + 24
    first_visible = int(lines(s)[0].split()[1])
    assert lines(s)[-2] == "line 11999"

    s.scroll_viewport(-5)
    up = s.scrollback
    assert up.offset == bottom.offset - 5
    assert not up.at_bottom
    assert lines(s)[0] == f"line {first_visible - 5}"
    assert s.cursor().y is None  # the cursor is below the view

    s.scroll_viewport(2)
    assert s.scrollback.offset == bottom.offset - 3

    s.scroll_to_top()
    assert s.scrollback.offset == 0
    assert lines(s)[0] == s.contents().splitlines()[0]

    s.scroll_to_bottom()
    assert s.scrollback == bottom
    assert lines(s)[0] == f"line {first_visible}"
    assert s.cursor().y == 23


def test_scroll_viewport_without_history_stays_put(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 3, b"a\r\nb")
    s.scroll_viewport(-10)
    assert s.scrollback.offset == 0
    assert lines(s) == ["a", "b", ""]


# --- resize with reflow ---------------------------------------------------------------------

_FORTY = "".join(chr(ord("a") + i % 26) for i in range(40))


def test_resize_reflows_and_unreflows(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(80, 6, _FORTY + "\r\nnext")
    assert lines(s)[:2] == [_FORTY, "next"]

    s.resize(20, 6)
    assert s.size == (20, 6)
    assert (s.cols, s.rows) == (20, 6)
    assert lines(s)[:3] == [_FORTY[:20], _FORTY[20:], "next"]
    assert s.cursor_position == (4, 2)
    rows = s.all_rows()
    assert len(rows) == 6
    assert all(row_cells(row) == 20 for row in rows)

    s.resize(80, 6)
    assert s.size == (80, 6)
    assert lines(s)[:2] == [_FORTY, "next"]
    assert s.cursor_position == (4, 1)
    rows = s.all_rows()
    assert len(rows) == 6
    assert all(row_cells(row) == 80 for row in rows)


def test_resize_rows_changes_row_count(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(30, 4, "中文 wide\r\nplain")
    s.resize(25, 10)
    rows = s.all_rows()
    assert s.size == (25, 10)
    assert len(rows) == 10
    assert all(row_cells(row) == 25 for row in rows)
    assert lines(s)[:2] == ["中文 wide", "plain"]


def test_resize_clamps_to_one_cell(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 3, b"abc")
    s.resize(0, -4)
    assert s.size == (1, 1)
    assert len(s.all_rows()) == 1


# --- dirty rows -------------------------------------------------------------------------------


def test_dirty_rows_reports_only_changed_rows(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(20, 24, b"top")
    s.all_rows()
    assert s.dirty_rows() == {}
    s.feed(b"\x1b[11;1Hzz")
    dirty = s.dirty_rows()
    assert 10 in dirty
    assert dirty[10][0].text.startswith("zz")
    assert 20 not in dirty
    assert 22 not in dirty
    assert s.dirty_rows() == {}


def test_dirty_rows_accumulate_over_feeds(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(20, 24)
    s.all_rows()
    s.feed(b"\x1b[3;1Ha")
    s.feed(b"\x1b[6;1Hb")
    dirty = s.dirty_rows()
    assert {2, 5} <= set(dirty)
    assert 15 not in dirty


def test_title_change_dirties_no_row(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(20, 5)
    s.all_rows()
    s.feed(b"\x1b]0;new title\x07")
    assert s.dirty_rows() == {}


# --- cursor -------------------------------------------------------------------------------------


def test_cursor_visibility_and_position(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(20, 5, b"ab\r\nxyz")
    s.update()
    c = s.cursor()
    assert (c.x, c.y, c.visible) == (3, 1, True)
    s.feed(b"\x1b[?25l")
    s.update()
    assert s.cursor().visible is False
    assert s.mode(MODE_CURSOR_VISIBLE) is False
    s.feed(b"\x1b[?25h\x1b[5;20H")
    s.update()
    c = s.cursor()
    assert (c.x, c.y, c.visible) == (19, 4, True)


def test_cursor_on_wide_char_tail(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(20, 2, "中x")
    s.update()
    assert s.cursor().wide_tail is False
    s.feed(b"\x1b[2D")  # back onto the second column of the wide char
    s.update()
    c = s.cursor()
    assert (c.x, c.y, c.wide_tail) == (1, 0, True)
    assert s.cursor_position == (1, 0)


@pytest.mark.parametrize(
    ("param", "shape"),
    [
        (1, CursorShape.BLOCK),
        (2, CursorShape.BLOCK),
        (3, CursorShape.UNDERLINE),
        (4, CursorShape.UNDERLINE),
        (5, CursorShape.BAR),
        (6, CursorShape.BAR),
    ],
)
def test_cursor_shape_decscusr(
    make_screen: Callable[..., Screen], param: int, shape: CursorShape
) -> None:
    s = make_screen(10, 2, f"\x1b[{param} q")
    s.update()
    assert s.cursor().shape == shape


# --- paste and focus ----------------------------------------------------------------------------


def test_encode_paste_unbracketed(make_screen: Callable[..., Screen]) -> None:
    s = make_screen()
    assert s.encode_paste("a\r\nb\nc") == b"a\rb\rc"
    assert s.encode_paste("héllo 中") == "héllo 中".encode()


def test_encode_paste_bracketed(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(data=b"\x1b[?2004h")
    assert s.encode_paste("a\r\nb\nc") == b"\x1b[200~a\nb\nc\x1b[201~"
    assert s.encode_paste("x\x1b[201~y") == b"\x1b[200~xy\x1b[201~"
    s.feed(b"\x1b[?2004l")
    assert s.encode_paste("a\nb") == b"a\rb"


def test_encode_paste_cannot_be_escaped_by_a_nested_end_marker(
    make_screen: Callable[..., Screen],
) -> None:
    s = make_screen(data=b"\x1b[?2004h")
    out = s.encode_paste("safe\x1b[20\x1b[201~1~rm -rf ~\n")
    assert out.startswith(b"\x1b[200~")
    assert out.endswith(b"\x1b[201~")
    assert b"\x1b[201~" not in out[len(b"\x1b[200~") : -len(b"\x1b[201~")]


def test_encode_focus(make_screen: Callable[..., Screen]) -> None:
    s = make_screen()
    assert s.encode_focus(True) == b""
    assert s.encode_focus(False) == b""
    s.feed(b"\x1b[?1004h")
    assert s.encode_focus(True) == b"\x1b[I"
    assert s.encode_focus(False) == b"\x1b[O"
    s.feed(b"\x1b[?1004l")
    assert s.encode_focus(True) == b""


# --- row_text ---------------------------------------------------------------------------------


def test_row_text_index_out_of_range(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 2, b"x")
    s.update()
    assert s.row_text(1) == ""
    with pytest.raises(IndexError):
        s.row_text(2)


def test_row_text_sees_the_latest_feed(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 2)
    s.feed(b"hello")
    assert s.row_text(0) == "hello"
    s.all_rows()
    s.feed(b"\rworld")
    assert s.row_text(0) == "world"


# --- lifetime -----------------------------------------------------------------------------------


def test_close_is_idempotent_and_context_manager_closes() -> None:
    with Screen(10, 2) as s:
        s.feed(b"x")
        assert s.text() == "x"
    assert s._closed
    s.close()  # a second close is a no-op, not a double free


def test_text_trims_trailing_blanks(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(10, 3, b"ab   \r\n\r\ncd")
    assert s.text() == "ab\n\ncd"


# --- ABI guards ---------------------------------------------------------------------------------

# A screen touching every cell kind: plain, bold palette colour, 256/truecolor, bg-only cells
# (palette and RGB, after differently styled text), wide CJK, emoji, combining marks, a wide char
# wrapped off the last column (spacer head), underline styles, inverse, overline.
_VARIED = (
    "\x1b[1;31mA\x1b[0m中e\u0301\x1b[44m\x1b[K\x1b[0m\r\n"
    "\x1b[38;5;200;4:3mund\x1b[0m😀\x1b[7mrev\x1b[0m\x1b[48;2;10;20;30m\x1b[K\x1b[0m\r\n"
    "abcdefghijk中\r\n"
    "\x1b[38;2;1;2;3;48;5;17mtc\x1b[0m x\x1b[53mo\x1b[9ms\x1b[0m 😀😀\r\n"
    "\x1b[2mf\x1b[0;3mi\x1b[0;5mk\x1b[0;8mh\x1b[0m"
)


def _fast_and_slow_rows(s: Screen) -> list[tuple[Row, Row]]:
    """Read every row through both the packed-cell fast path and the accessor slow path,
    the way Screen._iter_rows positions the row cells before Screen._read_row."""
    lib: Any = vars(emulator)["lib"]  # the very cffi objects the emulator module binds
    ffi: Any = vars(emulator)["ffi"]
    s.update()
    it = s._rows_iter
    assert (
        lib.ghostty_render_state_get(s._state[0], lib.GHOSTTY_RENDER_STATE_DATA_ROW_ITERATOR, it)
        == 0
    )
    out: list[tuple[Row, Row]] = []
    while lib.ghostty_render_state_row_iterator_next(it[0]):
        cells_key = lib.GHOSTTY_RENDER_STATE_ROW_DATA_CELLS
        assert lib.ghostty_render_state_row_get(it[0], cells_key, s._cells) == 0
        view = ffi.new("GhosttyCellsView*")
        lib.ghostty_render_state_row_get(it[0], lib.GHOSTTY_RENDER_STATE_ROW_DATA_CELLS_RAW, view)
        assert view.len == s.cols
        raw = memoryview(ffi.buffer(view.ptr, view.len * 8)).cast("Q").tolist()
        fast = s._read_row_raw(raw)
        assert lib.ghostty_render_state_row_get(it[0], cells_key, s._cells) == 0
        slow = s._read_row_slow()
        out.append((fast, slow))
    return out


def test_raw_layout_is_active() -> None:
    assert emulator._RAW_LAYOUT_OK is True
    assert emulator._raw_layout_matches() is True


def test_fast_and_slow_row_readers_agree(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(12, 6, _VARIED)
    pairs = _fast_and_slow_rows(s)
    assert len(pairs) == 6
    for y, (fast, slow) in enumerate(pairs):
        assert fast == slow, f"row {y}"
        assert row_cells(fast) == 12
    assert [fast for fast, _ in pairs] == s.all_rows()
    # The comparison is not vacuous: the screen really has the cell kinds listed above.
    fast_rows = [fast for fast, _ in pairs]
    assert Run("中", DEFAULT_STYLE, 2) in fast_rows[0]
    assert Run("e\u0301", DEFAULT_STYLE, 1) in fast_rows[0]
    assert fast_rows[0][-1].style.bg is not None
    assert fast_rows[1][-1].style.bg == (10, 20, 30)
    assert run_at(fast_rows[1], "rev").style.inverse
    assert lines(s)[2:4] == ["abcdefghijk", "中"]
    assert run_at(fast_rows[4], "tc").style == CellStyle(fg=(1, 2, 3), bg=(0, 0, 95))


def test_equal_styles_form_one_run(make_screen: Callable[..., Screen]) -> None:
    s = make_screen(6, 1, b"\x1b[41mx\x1b[K")
    row = s.all_rows()[0]
    assert len(row) == 1
    assert row[0].text == "x     "
    assert row[0].cells == 6
