"""terminal_safe: agent text printed outside the TUI cannot drive the user's terminal, and what
it tried stays visible."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from coder_tui.core.safe_text import terminal_safe

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def is_unsafe(char: str) -> bool:
    """What must never reach the terminal: controls but newline and tab (C0, DEL, C1), the bidi
    reordering characters, lone surrogates."""
    code = ord(char)
    return (
        (code < 0x20 and char not in "\n\t")
        or 0x7F <= code <= 0x9F
        or char in BIDI
        or 0xD800 <= code <= 0xDFFF
    )


# Any text, with the dangerous characters often enough to matter.
hostile_text = st.text(
    st.one_of(
        st.characters(),
        st.characters(max_codepoint=0xA0),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
        st.sampled_from([*BIDI, "\x1b", "\x9b", "\r", "\n", "\t", "[", "]", "\\"]),
    )
)
printable_text = st.text(
    st.characters(exclude_categories=("Cc", "Cs")).filter(lambda c: c not in BIDI)
    | st.sampled_from(["\n", "\t"])
)


@given(hostile_text)
def test_the_result_holds_no_control_character_but_newline_and_tab(text: str) -> None:
    safe = terminal_safe(text)
    assert not any(is_unsafe(char) for char in safe)
    safe.encode("utf-8")  # printable on any UTF-8 terminal: no lone surrogate left


@given(hostile_text)
def test_nothing_is_dropped_and_applying_it_twice_changes_nothing(text: str) -> None:
    safe = terminal_safe(text)
    assert terminal_safe(safe) == safe
    # Every character that stays is still there, in order, and each escape is visible text.
    kept = "".join(c for c in text.replace("\r\n", "\n") if not is_unsafe(c))
    iterator = iter(safe)
    assert all(char in iterator for char in kept)
    assert len(safe) >= len(kept) + 4 * sum(map(is_unsafe, text.replace("\r\n", "\n")))


@given(printable_text)
def test_printable_text_is_unchanged(text: str) -> None:
    assert terminal_safe(text) == text


def test_escape_sequences_are_shown_as_visible_escapes() -> None:
    assert terminal_safe("a\x1b]0;pwned\x07b") == r"a\x1b]0;pwned\x07b"  # window title
    assert terminal_safe("\x1b]52;c;aGk=\x07") == r"\x1b]52;c;aGk=\x07"  # clipboard
    assert terminal_safe("\x1b]8;;https://x\x1b\\go\x1b]8;;\x1b\\") == (
        "\\x1b]8;;https://x\\x1b\\go\\x1b]8;;\\x1b\\"  # hyperlink
    )
    assert terminal_safe("\x1b[2J\x1b[H") == r"\x1b[2J\x1b[H"  # screen clear
    assert terminal_safe("\x9b2J \x9d0;t\x9c") == r"\x9b2J \x9d0;t\x9c"  # 8-bit CSI, OSC, ST
    assert terminal_safe("\x00\x08\x7f") == r"\x00\x08\x7f"
    assert terminal_safe("abc\u202edcba\u202c") == r"abc\u202edcba\u202c"  # Trojan Source
    assert terminal_safe("\ud800") == r"\ud800"


def test_line_ends_tabs_and_unicode_are_kept_and_crlf_becomes_newline() -> None:
    assert terminal_safe("a\tb\nc") == "a\tb\nc"
    assert terminal_safe("one\r\ntwo\r\n") == "one\ntwo\n"
    assert terminal_safe("50%\rdone") == r"50%\x0ddone"  # a lone CR would overwrite the line
    text = "héllo — 日本語 👍🏽 مرحبا \u200f[bold]x[/] \\x1b"  # markup is not its concern
    assert terminal_safe(text) == text
    assert unicodedata.category("\u200f") == "Cf"  # RLM: kept, it orders nothing beyond itself
