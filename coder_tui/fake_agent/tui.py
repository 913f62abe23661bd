"""Drawing the fake agent's screen, the way Ink-based CLIs do it.

The screen is two parts. *Static* lines (header, finished transcript entries) are written
once and then left alone, scrolling up into the scrollback like Claude Code's transcript.
The *dynamic* region below them (a reply line still streaming, the spinner, queued prompts,
the input box or the approval prompt, the footer) is redrawn in place on every change:
cursor up to its first row, erase and rewrite each row, erase below. Each redraw is wrapped
in synchronized-output marks (``?2026``). With ``alt_screen`` the whole screen is repainted
instead, on the alternate screen, like Codex.

Every row of the dynamic region is wrapped or cut to the terminal width here, so the number
of rows written is known exactly and the cursor arithmetic stays right. Finished transcript
lines are either wrapped here too (``--wrap self``) or written whole for the terminal to wrap
(the default): they are never redrawn, so their row count does not matter. Widths are the
emulator's own (see ``widths``): a flag emoji is 4 cells there, not the 2 a grapheme-aware table
would say.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coder_tui.core.cellwidths import char_width, text_width

SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

HEADER_MARK = "✻"
USER_MARK = "> "
REPLY_MARK = "⏺ "
INDENT = "  "
IDLE_FOOTER = "? for shortcuts"
BUSY_FOOTER = "esc to interrupt"
EXIT_FOOTER = "Press Ctrl-C again to exit"
APPROVAL_FOOTER = "Esc to cancel"
TITLE_IDLE = "✳"
TITLE_APPROVAL = "✋"
APPROVAL_HINT = "Esc to cancel"
APPROVAL_OPTIONS = ("1. Yes", "2. No, and tell the agent what to do differently (esc)")
PREVIEW_LINES = 5

ENABLE = b"\x1b[?2004h\x1b[?25l"
DISABLE = b"\x1b[?2004l\x1b[?25h"
ALT_ON = b"\x1b[?1049h"
ALT_OFF = b"\x1b[?1049l"
SYNC_ON = "\x1b[?2026h"
SYNC_OFF = "\x1b[?2026l"
ERASE_LINE = "\x1b[2K"
ERASE_BELOW = "\x1b[J"
CLEAR_ALL = "\x1b[2J\x1b[3J\x1b[H"


def printable(text: str) -> str:
    """Text safe to write to a terminal: tabs as spaces, other controls as their pictures
    (a pasted ESC must not become an escape sequence on screen)."""
    out = []
    for char in text:
        code = ord(char)
        if char == "\t":
            out.append("    ")
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("␡")
        elif 0x80 <= code < 0xA0:
            out.append("�")
        else:
            out.append(char)
    return "".join(out)


def wrap(line: str, width: int, indent: str = INDENT) -> list[str]:
    """Hard-wrap one line to ``width`` cells; continuation rows start with ``indent``."""
    width = max(1, width)
    if text_width(indent) >= width:
        indent = ""
    rows: list[str] = []
    current: list[str] = []
    used = 0
    for char in line:
        size = char_width(char)
        if used + size > width and current:
            rows.append("".join(current))
            current = [indent] if indent else []
            used = text_width(indent)
        current.append(char)
        used += size
    rows.append("".join(current))
    return rows


def cut(text: str, width: int) -> str:
    """At most ``width`` cells of ``text``."""
    out: list[str] = []
    used = 0
    for char in text:
        size = char_width(char)
        if used + size > width:
            break
        out.append(char)
        used += size
    return "".join(out)


def pad(text: str, width: int) -> str:
    text = cut(text, width)
    return text + " " * (width - text_width(text))


def entry_lines(mark: str, text: str) -> list[str]:
    """A transcript entry: the mark before the first line, an indent before the others."""
    lines = printable_lines(text)
    return [(mark if i == 0 else INDENT) + line for i, line in enumerate(lines)]


def printable_lines(text: str) -> list[str]:
    return [printable(line) for line in text.split("\n")]


@dataclass
class ApprovalView:
    path: str
    content: str
    highlight: int = 0  # 0 = Yes, 1 = No
    ready: bool = True  # drawn to its last line, taking keys (see --approval-deaf)


@dataclass
class DynamicView:
    """What goes below the transcript, in the order drawn."""

    partial: str | None = None  # the reply line still streaming (with its mark or indent)
    spinner: str | None = None  # "⠋ Working… (3s · esc to interrupt)"
    queued: list[str] = field(default_factory=list)
    input_text: str = ""
    approval: ApprovalView | None = None
    footer: str = IDLE_FOOTER


def _box(content: Sequence[str], cols: int) -> list[str]:
    inner = max(1, cols - 4)
    rows = ["╭" + "─" * (cols - 2) + "╮"]
    rows += ["│ " + pad(line, inner) + " │" for line in content]
    rows.append("╰" + "─" * (cols - 2) + "╯")
    return rows


def render_dynamic(view: DynamicView, cols: int, rows: int) -> list[str]:
    """The dynamic region's rows, each at most ``cols`` cells, at most ``rows`` of them."""
    cols = max(cols, 8)
    inner = cols - 4
    above: list[str] = []
    if view.partial is not None:
        above += wrap(view.partial, cols)
    above.append("")
    if view.spinner is not None:
        above += wrap(view.spinner, cols)
    for prompt in view.queued:
        first = printable(prompt.split("\n")[0])
        more = " …" if "\n" in prompt else ""
        above.append(cut(f"↳ queued: {first}{more}", cols))
    content: list[str] = []
    if view.approval is not None:
        approval = view.approval
        content += wrap(f"Create file {printable(approval.path)}", inner)
        preview = printable_lines(approval.content.rstrip("\n"))
        for line in preview[:PREVIEW_LINES]:
            content.append(cut(INDENT + line, inner))
        if len(preview) > PREVIEW_LINES:
            content.append(f"{INDENT}… +{len(preview) - PREVIEW_LINES} lines")
        content.append("")
        content += wrap(f"Do you want to create {printable(approval.path)}?", inner)
        for index, option in enumerate(APPROVAL_OPTIONS):
            mark = "❯ " if index == approval.highlight else "  "
            content += wrap(mark + option, inner, indent="     ")
        if approval.ready:
            content.append(APPROVAL_HINT)
    else:
        for index, line in enumerate(printable_lines(view.input_text)):
            content += wrap((USER_MARK if index == 0 else INDENT) + line, inner)
        # A long input shows its end, as the box scrolls with the cursor.
        room = max(1, rows - len(above) - 3)
        content = content[-room:]
    result = above + _box(content, cols)
    if view.footer:
        result.append(cut(view.footer, cols))
    return result[-rows:] if rows > 0 else result


def title_sequence(title: str) -> str:
    return f"\x1b]0;{title}\x07"


Writer = Callable[[bytes], None]


def write_all(fd: int) -> Writer:
    def _write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    return _write


class Renderer:
    """Owns the terminal's screen state: modes, the emitted static lines, the dynamic rows."""

    def __init__(
        self, write: Writer, *, alt_screen: bool = False, terminal_wraps: bool = False
    ) -> None:
        self._write = write
        self.alt_screen = alt_screen
        # Transcript lines (inline mode) wider than the screen: written whole and wrapped by
        # the terminal (soft wraps, which a reader of the screen can join back), or broken into
        # indented rows here, as Ink-based CLIs do. Rows of the dynamic region are always
        # broken here: their number must be known to redraw them in place.
        self.terminal_wraps = terminal_wraps
        self._emitted = 0  # static lines already written (inline mode)
        self._dynamic_rows = 0  # rows of the dynamic region now on screen (inline mode)
        self._title: str | None = None
        # Inline mode starts where the cursor is (no clear, like Claude Code); the alternate
        # screen is painted whole.
        self._full = alt_screen

    def start(self) -> None:
        self._write((ALT_ON if self.alt_screen else b"") + ENABLE)

    def stop(self) -> None:
        """Leave the terminal as found: cursor below the drawing, modes off."""
        tail = ALT_OFF if self.alt_screen else b"\r\n"
        self._write(SYNC_OFF.encode() + tail + DISABLE)

    def invalidate(self) -> None:
        """Repaint everything on the next draw (after a resize: the terminal reflowed)."""
        self._full = True

    def draw(
        self, static: Sequence[str], view: DynamicView, cols: int, rows: int, title: str
    ) -> None:
        dynamic = render_dynamic(view, cols, rows)
        out = [SYNC_ON]
        if title != self._title:
            self._title = title
            out.append(title_sequence(title))
        if self.alt_screen:
            out += self._frame_alt(static, dynamic, cols, rows)
        else:
            out += self._frame_inline(static, dynamic, cols)
        out.append(SYNC_OFF)
        self._write("".join(out).encode())

    def _frame_inline(self, static: Sequence[str], dynamic: list[str], cols: int) -> list[str]:
        out: list[str] = []
        if self._full:
            out.append(CLEAR_ALL)
            self._emitted = 0
            self._dynamic_rows = 0
            self._full = False
        out.append("\r")
        if self._dynamic_rows > 1:
            out.append(f"\x1b[{self._dynamic_rows - 1}A")
        # Erase first: after a full-width last row the cursor sits on that row's last cell,
        # and an erase written after the rows would wipe it.
        out.append(ERASE_BELOW)
        if self.terminal_wraps:
            # Everything below was just erased: a whole line wraps onto clean rows.
            new_rows = list(static[self._emitted :])
        else:
            new_rows = [row for line in static[self._emitted :] for row in wrap(line, cols)]
        self._emitted = len(static)
        all_rows = new_rows + dynamic
        for index, row in enumerate(all_rows):
            out.append(ERASE_LINE + row)
            if index < len(all_rows) - 1:
                out.append("\r\n")
        self._dynamic_rows = len(dynamic)
        return out

    def _frame_alt(
        self, static: Sequence[str], dynamic: list[str], cols: int, rows: int
    ) -> list[str]:
        room = max(0, rows - len(dynamic))
        history = [row for line in static for row in wrap(line, cols)]
        shown = history[-room:] if room else []
        screen = shown + [""] * (room - len(shown)) + dynamic
        out: list[str] = []
        if self._full:
            out.append("\x1b[2J")
            self._full = False
        for index, row in enumerate(screen[:rows]):
            out.append(f"\x1b[{index + 1};1H{ERASE_LINE}{row}")
        return out
