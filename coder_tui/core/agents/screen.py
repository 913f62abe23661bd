"""Reading an agent CLI's screen by its profile's rules: where the status shows, where a
permission prompt stands, where the input box begins, and which lines a turn added (its
reply, when no hook gives it). Pure functions of the screen's text: no timing, no PTY, so
recorded screens can be checked against a profile without a CLI (tests/data/screens).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from coder_tui.core.agents.profile import AgentProfile
from coder_tui.core.cellwidths import char_width, text_width

INPUT_BOX_ROWS = 10  # the most rows between an input box's top and bottom borders
APPROVAL_LINES = 16  # bottom lines where a permission prompt is looked for


PROMPT_MARKS = {">", "›", "❯"}  # how the CLIs mark the echo of a prompt in their transcript
ANCHOR_LINES = 6  # non-empty lines from before the turn that locate where its output starts


def turn_start(before: list[str], after: list[str], prompt: str = "") -> int:
    """Index in ``after`` where the turn's output begins: just past the last lines that were
    on screen at submit. Anchoring on those (not on a common prefix) keeps working once the
    scrollback is full and old rows are dropped from the top."""
    anchor = [line for line in before if line.strip()][-ANCHOR_LINES:]
    if not anchor:
        return 0
    # The anchor can only have moved up (history trimmed from the top), never down: search
    # from its old place upwards, so a turn whose own output repeats it is not mistaken for it.
    for end in range(min(len(after), len(before)), 0, -1):
        window = [line for line in after[:end] if line.strip()][-len(anchor) :]
        if window == anchor and after[end - 1].strip():
            return end
    # Not found: the CLI redrew everything (Claude relays out its transcript when its side
    # panel opens). The turn then starts at the last echo of its prompt, if there is one.
    for index in range(len(after) - 1, -1, -1):
        if after[index].strip()[:1] in PROMPT_MARKS and echo_length(after[index:], prompt):
            return index
    # Else the common prefix.
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    return start


def trailing_blank_lines(text: str) -> int:
    """How many of ``text``'s last lines are blank (only white space)."""
    lines = text.split("\n")
    count = 0
    while count < len(lines) - 1 and not lines[-1 - count].strip():
        count += 1
    return count


def echo_length(lines: list[str], prompt: str) -> int:
    """How many of ``lines`` are the CLI's echo of the prompt. Compared without white space,
    because the CLI wraps a long prompt line over several rows with its own indent."""
    wanted = "".join(prompt.split())
    if not wanted:
        return 0
    seen = ""
    count = 0
    for index, line in enumerate(lines):
        shown = line.strip()
        marked = index == 0 and shown[:1] in PROMPT_MARKS
        if marked:
            shown = shown[1:]
        piece = "".join(shown.split())
        if not piece and (marked or (count and seen != wanted)):
            count += 1  # the mark alone (a blank first line), or a blank line inside the prompt
            continue
        if not piece or not wanted.startswith(seen + piece):
            break
        seen += piece
        count += 1
        if seen == wanted:
            break
    return count if seen else 0


@dataclass(frozen=True)
class ScreenReading:
    """What a profile's screen rules see on one screen, without any timing: the pure part of
    the status logic, so recorded screens can be checked against a profile without a CLI."""

    busy: str | None  # the busy marker found in the status region
    idle: str | None  # the idle marker found in the idle region
    approval: str | None  # the approval prompt found in the approval region
    input_box: bool  # the input box is on screen

    @property
    def state(self) -> str:
        """ "approval", "busy", "idle", or "unknown" (no rule fits: the profile may not fit)."""
        if self.approval is not None:
            return "approval"
        if self.busy is not None:
            return "busy"
        if self.idle is not None:
            return "idle"
        return "unknown"


def read_screen(profile: AgentProfile, lines: list[str]) -> ScreenReading:
    """Apply ``profile``'s screen rules to ``lines`` (a screen's text, one row a line)."""
    rules = ScreenRules(profile)
    return rules.read(lines)


def _cut_at_column(line: str, divider: str, column: int) -> str:
    """``line`` up to the divider that stands at screen ``column``, or whole if none does. A
    row that is the divider and panel text alone lost its blank cells before the divider (the
    formatter that joins wrapped rows drops cells that were never written): nothing is kept."""
    if line.startswith(divider) and line.count(divider) == 1:
        return ""
    width = 0
    for index, char in enumerate(line):
        if width == column:
            return line[:index].rstrip() if char == divider else line
        if width > column:
            return line
        width += char_width(char)
    return line


class ScreenRules:
    """The profile's screen regexes, compiled once, and the regions of a screen each applies to."""

    DECORATION = re.compile(r"^(?:⏺|●|✦|•|⎿)\s?")

    def __init__(self, profile: AgentProfile) -> None:
        rules = profile.screen
        self.busy = [re.compile(p) for p in rules.busy]
        self.idle = [re.compile(p) for p in rules.idle]
        self.approval = [re.compile(p) for p in rules.approval]
        self.approval_edit = [re.compile(p) for p in rules.approval_edit]
        self.input_box = re.compile(rules.input_box) if rules.input_box else None
        self.side_panel = re.compile(rules.side_panel) if rules.side_panel else None
        self.not_reply = [re.compile(p) for p in rules.not_reply]
        self.rows_above = rules.status_rows_above
        self.box_bottom = re.compile(rules.input_box_bottom) if rules.input_box_bottom else None
        self.footer_rows = rules.footer_rows
        self.divider = rules.side_panel_divider
        self.startup_answers = [(a, re.compile(a.screen)) for a in profile.startup_answers]

    def without_side_panel(self, lines: list[str]) -> list[str]:
        """``lines`` with an open side panel cut off: rows that hold the divider at the panel's
        screen column end just before it (other rows, such as a full-width input box and
        footer, and scrollback from before it opened, are kept as they are)."""
        if self.side_panel is None or not any(self.side_panel.search(line) for line in lines):
            return lines
        columns: Counter[int] = Counter()
        for line in lines:
            at = line.rfind(self.divider)
            if at > 0:
                columns[text_width(line[:at])] += 1
        if not columns:
            return lines
        column, rows = columns.most_common(1)[0]
        if rows < 3:
            return lines
        return [_cut_at_column(line, self.divider, column) for line in lines]

    def read(self, lines: list[str]) -> ScreenReading:
        idle = self.find(self.idle, self.idle_region(lines)) if self.idle else None
        return ScreenReading(
            busy=self.find(self.busy, self.status_region(lines)),
            idle=idle,
            approval=self.find(self.approval, self.approval_region(lines)),
            input_box=self.input_box_visible(lines),
        )

    @staticmethod
    def find(patterns: list[re.Pattern[str]], lines: list[str]) -> str | None:
        for line in lines:
            for pattern in patterns:
                if pattern.search(line):
                    return line.strip()
        return None

    def _input_start(self, lines: list[str]) -> int | None:
        """The row of the input box's first line: the last row that matches ``input_box``, or,
        for a box whose bottom border matches it too (Claude's two rules), the top border just
        above that bottom (at most INPUT_BOX_ROWS rows up)."""
        if self.input_box is None:
            return None
        for index in range(len(lines) - 1, -1, -1):
            if self.input_box.search(lines[index]):
                if self.box_bottom is not None and self.box_bottom.search(lines[index]):
                    for top in range(index - 1, max(-1, index - INPUT_BOX_ROWS - 1), -1):
                        if self.input_box.search(lines[top]):
                            return top
                return index
        return None

    def input_box_visible(self, lines: list[str]) -> bool:
        return self._input_start(lines) is not None

    def status_region(self, lines: list[str]) -> list[str]:
        """Where a CLI shows that it is busy: the lines just above its input box (the spinner)
        and the footer below it. Not the transcript: a reply that merely contains the words
        "esc to interrupt" must not keep the agent 'working'."""
        start = self._input_start(lines)
        filled = [line for line in lines if line.strip()]
        if start is None:
            return filled[-(self.rows_above + self.footer_rows) :]
        return lines[max(0, start - self.rows_above) : start] + filled[-self.footer_rows :]

    def idle_region(self, lines: list[str]) -> list[str]:
        """Where an idle marker counts: the status region plus the input box's first line,
        where Gemini and Codex show their empty-box placeholder. (Busy markers are not looked
        for there: a pasted prompt may quote them.)"""
        start = self._input_start(lines)
        region = self.status_region(lines)
        return region if start is None else [*region, lines[start]]

    def approval_region(self, lines: list[str]) -> list[str]:
        """Where a permission prompt appears: in place of the input box (the last box on the
        screen) and below it. The transcript above is excluded: a reply or an echoed prompt
        that quotes 'Do you want to create' is text, not a question."""
        start = self._input_start(lines)
        if start is not None:
            return lines[start:]
        return [line for line in lines if line.strip()][-APPROVAL_LINES:]

    def above_input(self, lines: list[str]) -> list[str]:
        start = self._input_start(lines)
        return lines if start is None else lines[:start]

    def input_text(self, lines: list[str]) -> str:
        start = self._input_start(lines)
        return "" if start is None else "\n".join(lines[start:])

    def strip_decoration(self, lines: list[str]) -> list[str]:
        """Remove a reply block's leading marker ("⏺ ") and the hanging indent of the same
        width that the CLI puts before the block's following lines (blank lines inside the
        block keep the indent going)."""
        out: list[str] = []
        indent = ""
        for line in lines:
            match = self.DECORATION.match(line)
            if match:
                indent = " " * len(match.group(0))
                out.append(line[match.end() :])
            elif indent and (line.startswith(indent) or not line.strip()):
                out.append(line[len(indent) :])
            else:
                indent = ""
                out.append(line)
        return out


def reply_from_screen(
    rules: ScreenRules, before: list[str], after: list[str], prompt: str, *, keep_spaces: bool
) -> str:
    """The text a turn added to the screen (``before``: the snapshot at submit, ``after``:
    now): what follows the last lines that were there at submit, after the CLI's echo of the
    prompt, without busy markers and the reply block's decoration.

    With ``keep_spaces`` (the profile says written trailing spaces are text), a line the CLI
    wrote (even only its indent) is part of the reply and only rows it never wrote (spacers)
    are cut from its ends, so blank lines and trailing spaces of the reply survive. Otherwise
    a screen cannot tell them from padding: blank lines at the ends and trailing spaces are
    dropped."""
    added = after[turn_start(before, after, prompt) :]
    at = 0
    while at < len(added) and not added[at].strip():
        at += 1
    echo = echo_length(added[at:], prompt)
    at += echo
    if keep_spaces and echo:
        # The echo's own trailing blank lines (the prompt's), drawn with the CLI's indent.
        for _ in range(trailing_blank_lines(prompt)):
            if at < len(added) and added[at] and not added[at].strip():
                at += 1
    noise = rules.busy + rules.not_reply
    reply = [line for line in added[at:] if rules.find(noise, [line]) is None]
    if keep_spaces:
        while reply and not reply[0]:
            reply.pop(0)
        while reply and not reply[-1]:
            reply.pop()
        return "\n".join(rules.strip_decoration(reply))
    lines = rules.strip_decoration(reply)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


def box_inner(line: str) -> str:
    """A screen row's text without the box it is drawn in and its padding:
    ``│ Do you want to create x?      │`` -> ``Do you want to create x?``."""
    return " ".join(line.strip().strip("│┃|").split())
