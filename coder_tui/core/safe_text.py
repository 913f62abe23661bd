"""Text from agents (and from files they or a cloned project wrote) made safe to print on the
user's terminal outside the TUI.

A reply is data, not a command for the terminal: ``ESC ] 0 ; ... BEL`` would set the window
title, ``ESC ] 52`` write the clipboard, ``ESC [ 2 J`` clear the screen, ``ESC ] 8`` hide a link
behind harmless text, and an 8-bit CSI (U+009B) does the same without an ESC. Every control
character except newline and tab is therefore shown as a visible escape (``\\x1b``, ``\\x9b``,
``\\u202e``) instead of being sent or silently dropped, so what an agent tried stays readable.

This is only about control characters; rich markup (``[bold]``) is a separate matter: print the
result as ``rich.text.Text`` (or with ``markup=False``) so brackets are never read as markup.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls (U+0080-U+009F, 8-bit CSI and OSC among
# them), the bidi embeddings, overrides and isolates that reorder what is shown (the "Trojan
# Source" characters), and lone surrogates (which no terminal encoding can write: printing one
# would raise).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control character (but newline and tab) as a visible escape such as
    ``\\x1b``, so printing it cannot drive the terminal; CRLF line ends become newlines (a line
    end, not an attempt to overwrite the line). Printable text is returned unchanged."""
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_visible, text)
