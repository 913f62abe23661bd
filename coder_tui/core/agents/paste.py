"""What is typed into a CLI for a prompt: a guard in front of text the CLI would run as a
command, and the pieces a paste is cut into where a CLI takes only so much at once."""

from __future__ import annotations

import unicodedata

from coder_tui.core.agents.profile import AgentProfile


def guard_prompt(text: str, profile: AgentProfile) -> str:
    """``text`` with the profile's escape in front when it would otherwise start with one of
    the characters that make the CLI run it as a command: a model's reply forwarded as a
    prompt must never run in a shell. Invisible format characters and white space are looked
    through, as the CLI does."""
    guard = profile.prompt_guard
    if guard is None:
        return text
    visible = text.lstrip()
    while visible and unicodedata.category(visible[0]) == "Cf":
        visible = visible[1:].lstrip()
    if any(visible.startswith(start) for start in guard.starts):
        return guard.escape + text
    return text


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def paste_pieces(text: str, profile: AgentProfile) -> list[str]:
    """``text`` cut into the pastes the profile allows (whole when it sets no limits): line
    by line, a line longer than a piece cut at character boundaries."""
    limits = profile.paste_chunks
    if limits is None:
        return [text]
    pieces: list[str] = []
    piece, newlines, length = "", 0, 0
    for line in text.splitlines(keepends=True):
        breaks = line.count("\n")
        size = utf16_length(line)
        if piece and (newlines + breaks > limits.max_newlines or length + size > limits.max_length):
            pieces.append(piece)
            piece, newlines, length = "", 0, 0
        while size > limits.max_length:  # one line alone is too long
            cut, used = 0, 0
            while cut < len(line) and used + utf16_length(line[cut]) <= limits.max_length:
                used += utf16_length(line[cut])
                cut += 1
            pieces.append(line[:cut])
            line = line[cut:]
            size = utf16_length(line)
        piece += line
        newlines += breaks
        length += size
    if piece:
        pieces.append(piece)
    return pieces
