"""coder_tui.core.keys.parse_key + Screen.encode_keystroke: Textual key names to child bytes.

Expected bytes are what xterm (legacy), xterm with DECCKM (application cursor keys) and the
kitty keyboard protocol (flag 1, "disambiguate") send for the same key press.
"""

from __future__ import annotations

import string
from collections.abc import Iterator

import pytest

from coder_tui.core.emulator import MOD_ALT, MOD_CTRL, MOD_SHIFT, MOD_SUPER, Screen
from coder_tui.core.keys import KeyStroke, parse_key

ESC = b"\x1b"


@pytest.fixture
def screen() -> Iterator[Screen]:
    with Screen(80, 24) as s:
        yield s


def encode(screen: Screen, name: str, character: str | None = None) -> bytes:
    return screen.encode_keystroke(parse_key(name, character))


# --- parse_key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "character", "stroke"),
    [
        ("a", "a", KeyStroke("A", 0, "a", "a")),
        ("A", "A", KeyStroke("A", MOD_SHIFT, "A", "a")),
        ("shift+a", "A", KeyStroke("A", MOD_SHIFT, "A", "a")),
        ("ctrl+c", "\x03", KeyStroke("C", MOD_CTRL, "", "c", b"\x03")),
        ("alt+x", "x", KeyStroke("X", MOD_ALT, "x", "x")),
        ("meta+x", "x", KeyStroke("X", MOD_ALT, "x", "x")),
        ("super+a", "a", KeyStroke("A", MOD_SUPER, "a", "a")),
        ("ctrl+alt+shift+up", None, KeyStroke("ARROW_UP", MOD_CTRL | MOD_ALT | MOD_SHIFT)),
        ("7", "7", KeyStroke("DIGIT_7", 0, "7", "7")),
        ("ctrl+i", "\t", KeyStroke("TAB")),  # Textual's name for 0x09
        ("ctrl+m", "\r", KeyStroke("ENTER")),  # Textual's name for 0x0d
        ("enter", "\r", KeyStroke("ENTER")),
        ("escape", "\x1b", KeyStroke("ESCAPE")),
        ("space", " ", KeyStroke("SPACE", 0, " ", " ")),
        ("f5", None, KeyStroke("F5")),
        ("minus", "-", KeyStroke("MINUS", 0, "-", "-")),
        ("exclamation_mark", "!", KeyStroke("UNIDENTIFIED", 0, "!", "!")),
        ("plus", "+", KeyStroke("UNIDENTIFIED", 0, "+", "+")),
        ("ctrl++", None, KeyStroke("UNIDENTIFIED", MOD_CTRL, "", "+")),
        ("latin_small_letter_e_with_acute", "é", KeyStroke("UNIDENTIFIED", 0, "é", "é")),
        ("no_such_key", None, KeyStroke("UNIDENTIFIED", 0, "", "")),
    ],
)
def test_parse_key(name: str, character: str | None, stroke: KeyStroke) -> None:
    assert parse_key(name, character) == stroke


def test_parse_key_never_keeps_control_characters_as_text() -> None:
    for code in [*range(0x20), 0x7F]:
        assert parse_key("whatever", chr(code)).text == ""


def test_screen_is_a_key_encoder(screen: Screen) -> None:
    encoder = screen
    assert encoder.encode_keystroke(KeyStroke("ENTER")) == b"\r"


# --- legacy (xterm) encoding --------------------------------------------------------------

_LETTERS = [(c, c, c.encode()) for c in string.ascii_lowercase]
_SHIFT_LETTERS = [(c.upper(), c.upper(), c.upper().encode()) for c in string.ascii_lowercase]
_SHIFT_NAMED = [(f"shift+{c}", c.upper(), c.upper().encode()) for c in "aqz"]
_CTRL_LETTERS = [(f"ctrl+{c}", None, bytes([i + 1])) for i, c in enumerate(string.ascii_lowercase)]
_ALT_LETTERS = [(f"alt+{c}", c, ESC + c.encode()) for c in "axz"]

_LEGACY: list[tuple[str, str | None, bytes]] = [
    *_LETTERS,
    *_SHIFT_LETTERS,
    *_SHIFT_NAMED,
    *_CTRL_LETTERS,
    *_ALT_LETTERS,
    ("alt+X", "X", b"\x1bX"),
    ("ctrl+alt+a", None, b"\x1b\x01"),
    ("0", "0", b"0"),
    ("9", "9", b"9"),
    ("alt+1", "1", b"\x1b1"),
    ("enter", "\r", b"\r"),
    ("ctrl+m", "\r", b"\r"),
    ("ctrl+j", "\n", b"\n"),
    ("alt+enter", None, b"\x1b\r"),
    ("tab", "\t", b"\t"),
    ("ctrl+i", "\t", b"\t"),
    ("shift+tab", None, b"\x1b[Z"),
    ("backspace", "\x7f", b"\x7f"),
    ("alt+backspace", None, b"\x1b\x7f"),
    ("escape", "\x1b", b"\x1b"),
    ("space", " ", b" "),
    ("alt+space", None, b"\x1b "),
    ("ctrl+space", None, b"\x00"),
    ("ctrl+@", "\x00", b"\x00"),
    ("ctrl+backslash", "\x1c", b"\x1c"),
    ("ctrl+right_square_bracket", "\x1d", b"\x1d"),
    ("up", None, b"\x1b[A"),
    ("down", None, b"\x1b[B"),
    ("right", None, b"\x1b[C"),
    ("left", None, b"\x1b[D"),
    ("ctrl+up", None, b"\x1b[1;5A"),
    ("ctrl+down", None, b"\x1b[1;5B"),
    ("ctrl+right", None, b"\x1b[1;5C"),
    ("ctrl+left", None, b"\x1b[1;5D"),
    ("shift+up", None, b"\x1b[1;2A"),
    ("alt+up", None, b"\x1b[1;3A"),
    ("ctrl+alt+left", None, b"\x1b[1;7D"),
    ("home", None, b"\x1b[H"),
    ("end", None, b"\x1b[F"),
    ("shift+home", None, b"\x1b[1;2H"),
    ("pageup", None, b"\x1b[5~"),
    ("pagedown", None, b"\x1b[6~"),
    ("ctrl+pageup", None, b"\x1b[5;5~"),
    ("insert", None, b"\x1b[2~"),
    ("delete", None, b"\x1b[3~"),
    ("shift+delete", None, b"\x1b[3;2~"),
    ("f1", None, b"\x1bOP"),
    ("f2", None, b"\x1bOQ"),
    ("f3", None, b"\x1bOR"),
    ("f4", None, b"\x1bOS"),
    ("f5", None, b"\x1b[15~"),
    ("f6", None, b"\x1b[17~"),
    ("f7", None, b"\x1b[18~"),
    ("f8", None, b"\x1b[19~"),
    ("f9", None, b"\x1b[20~"),
    ("f10", None, b"\x1b[21~"),
    ("f11", None, b"\x1b[23~"),
    ("f12", None, b"\x1b[24~"),
    ("ctrl+f1", None, b"\x1b[1;5P"),
    ("shift+f5", None, b"\x1b[15;2~"),
    # Punctuation by Textual name, with the character it produced.
    ("exclamation_mark", "!", b"!"),
    ("quotation_mark", '"', b'"'),
    ("number_sign", "#", b"#"),
    ("dollar_sign", "$", b"$"),
    ("percent_sign", "%", b"%"),
    ("ampersand", "&", b"&"),
    ("apostrophe", "'", b"'"),
    ("left_parenthesis", "(", b"("),
    ("right_parenthesis", ")", b")"),
    ("asterisk", "*", b"*"),
    ("plus", "+", b"+"),
    ("comma", ",", b","),
    ("minus", "-", b"-"),
    ("full_stop", ".", b"."),
    ("slash", "/", b"/"),
    ("colon", ":", b":"),
    ("semicolon", ";", b";"),
    ("less_than_sign", "<", b"<"),
    ("equals_sign", "=", b"="),
    ("greater_than_sign", ">", b">"),
    ("question_mark", "?", b"?"),
    ("at", "@", b"@"),
    ("left_square_bracket", "[", b"["),
    ("backslash", "\\", b"\\"),
    ("right_square_bracket", "]", b"]"),
    ("circumflex_accent", "^", b"^"),
    ("underscore", "_", b"_"),
    ("grave_accent", "`", b"`"),
    ("left_curly_bracket", "{", b"{"),
    ("vertical_line", "|", b"|"),
    ("right_curly_bracket", "}", b"}"),
    ("tilde", "~", b"~"),
    ("alt+exclamation_mark", "!", b"\x1b!"),
    # Non-ASCII characters, by Textual's Unicode-name spelling and by the character itself.
    ("latin_small_letter_e_with_acute", "é", "é".encode()),
    ("é", "é", "é".encode()),
    ("latin_small_letter_u_with_diaeresis", "ü", "ü".encode()),
    ("euro_sign", "€", "€".encode()),
    ("cjk_unified_ideograph_4e2d", "中", "中".encode()),
    ("alt+é", "é", b"\x1b" + "é".encode()),
]


@pytest.mark.parametrize(("name", "character", "expected"), _LEGACY)
def test_legacy_encoding(screen: Screen, name: str, character: str | None, expected: bytes) -> None:
    assert encode(screen, name, character) == expected


def test_ctrl_h_is_backspace_byte(screen: Screen) -> None:
    assert encode(screen, "ctrl+h") == b"\x08"
    assert encode(screen, "backspace") == b"\x7f"  # and distinct from the Backspace key


# --- application cursor keys (DECCKM) -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "normal", "app"),
    [
        ("up", b"\x1b[A", b"\x1bOA"),
        ("down", b"\x1b[B", b"\x1bOB"),
        ("right", b"\x1b[C", b"\x1bOC"),
        ("left", b"\x1b[D", b"\x1bOD"),
        ("home", b"\x1b[H", b"\x1bOH"),
        ("end", b"\x1b[F", b"\x1bOF"),
        ("ctrl+up", b"\x1b[1;5A", b"\x1b[1;5A"),  # modified keys keep the CSI form
        ("pageup", b"\x1b[5~", b"\x1b[5~"),
        ("f1", b"\x1bOP", b"\x1bOP"),
        ("a", b"a", b"a"),
    ],
)
def test_app_cursor_mode(screen: Screen, name: str, normal: bytes, app: bytes) -> None:
    character = name if len(name) == 1 else None
    assert encode(screen, name, character) == normal
    screen.feed(b"\x1b[?1h")
    assert screen.app_cursor
    assert encode(screen, name, character) == app
    screen.feed(b"\x1b[?1l")
    assert encode(screen, name, character) == normal


# --- kitty keyboard protocol ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "character", "expected"),
    [
        ("ctrl+c", None, b"\x1b[99;5u"),
        ("ctrl+a", None, b"\x1b[97;5u"),
        ("ctrl+shift+a", None, b"\x1b[97;6u"),
        ("escape", None, b"\x1b[27u"),
        ("alt+x", "x", b"\x1b[120;3u"),
        ("shift+tab", None, b"\x1b[9;2u"),
        ("a", "a", b"a"),
        ("A", "A", b"A"),
        ("exclamation_mark", "!", b"!"),
        ("é", "é", "é".encode()),
        ("enter", "\r", b"\r"),  # flag 1 keeps Enter/Tab/Backspace legacy
        ("tab", "\t", b"\t"),
        ("backspace", "\x7f", b"\x7f"),
        ("up", None, b"\x1b[A"),
        ("f5", None, b"\x1b[15~"),
    ],
)
def test_kitty_disambiguate(
    screen: Screen, name: str, character: str | None, expected: bytes
) -> None:
    screen.feed(b"\x1b[>1u")
    assert screen.kitty_keyboard_flags == 1
    assert encode(screen, name, character) == expected


def test_kitty_pop_restores_legacy(screen: Screen) -> None:
    screen.feed(b"\x1b[>1u")
    assert encode(screen, "ctrl+c") == b"\x1b[99;5u"
    screen.feed(b"\x1b[<u")
    assert encode(screen, "ctrl+c") == b"\x03"
    assert encode(screen, "escape") == b"\x1b"


# --- known gaps (documented bugs) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "character", "expected"),
    [("ctrl+underscore", "\x1f", b"\x1f"), ("ctrl+circumflex_accent", "\x1e", b"\x1e")],
)
def test_ctrl_underscore_and_circumflex(
    screen: Screen, name: str, character: str, expected: bytes
) -> None:
    assert encode(screen, name, character) == expected


def test_ctrl_left_square_bracket(screen: Screen) -> None:
    assert encode(screen, "ctrl+left_square_bracket") in (b"\x1b", b"\x1b[91;5u")


@pytest.mark.parametrize("name", ["ctrl+shift+a", "ctrl+A"])
def test_ctrl_shift_letter_is_not_swallowed(screen: Screen, name: str) -> None:
    assert encode(screen, name) in (b"\x01", b"\x1b[97;6u")
