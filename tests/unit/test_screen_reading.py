"""Pure parts of how an agent's screen and prompts are read: pastes cut to the CLI's limits,
Claude's paste wrapper removed, a side panel kept out of the screen text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coder_tui.core.agents.adapters.claude import unwrap_pastes
from coder_tui.core.agents.paste import guard_prompt, paste_pieces, utf16_length
from coder_tui.core.agents.profile import load_profiles
from coder_tui.core.agents.screen import ScreenRules

CLAUDE = load_profiles()["claude"]


@given(
    st.text(alphabet=st.sampled_from(["a", "é", "中", "🙂", "\n", " ", "\t", "x"]), max_size=3000)
)
def test_pastes_rebuild_the_text_and_stay_within_the_limits(text: str) -> None:
    limits = CLAUDE.paste_chunks
    assert limits is not None
    pieces = paste_pieces(text, CLAUDE)
    assert "".join(pieces) == text
    for piece in pieces:
        assert piece
        assert piece.count("\n") <= limits.max_newlines
        assert utf16_length(piece) <= limits.max_length


def test_a_profile_without_limits_pastes_once() -> None:
    codex = load_profiles()["codex"]
    text = "line\n" * 100
    assert paste_pieces(text, codex) == [text]


def test_claudes_paste_wrapper_is_removed_and_nothing_else() -> None:
    inner = "Review this:\n  1. one\n\n```\ncode\n```"
    wrapped = f'\n\n<pasted_content id="6629">\n{inner}\n</pasted_content id="6629">\n'
    assert unwrap_pastes(wrapped) == inner
    assert unwrap_pastes("typed " + wrapped) == "typed " + inner
    plain = 'a prompt that mentions <pasted_content id="1"> in passing'
    assert unwrap_pastes(plain) == plain


# Claude Code 2.1.332 at 160 columns after a file change (seen; shortened): the transcript
# rows are split at column 88 by the diff panel; the input box and footer are full width.
PANEL = [
    " " * 88 + "│" + " " * 20 + "╮",
    "▝▜██████▀  Opus 5.5 · API Usage Billing" + " " * 49 + "│1 file changed   /diff to close",
    "❯ Please write notes.txt" + " " * 64 + "│notes.txt (untracked)",
    "● Write(notes.txt)" + " " * 70 + "│New file not yet staged.",
    "中文 ● wrote it" + " " * (88 - 15) + "│",
    "│"
    + " " * 68
    + "✕",  # as contents() gives a row whose cells left of the panel were never written
    "─" * 160,
    "❯ ",
    "─" * 160,
    "  ⏸ manual mode on · ? for shortcuts · ← for agents",
]


def test_a_side_panel_is_cut_off_at_its_divider() -> None:
    rules = ScreenRules(CLAUDE)
    lines = rules.without_side_panel(PANEL)
    assert lines[:6] == [
        "",
        "▝▜██████▀  Opus 5.5 · API Usage Billing",
        "❯ Please write notes.txt",
        "● Write(notes.txt)",
        "中文 ● wrote it",  # wide characters: the divider is found by screen column
        "",
    ]
    assert lines[6:] == PANEL[6:]
    assert not any("file changed" in line for line in lines)
    assert rules.read(lines).state == "idle"


def test_rows_are_left_alone_without_an_open_panel() -> None:
    rules = ScreenRules(CLAUDE)
    table = ["a │ b", "c │ d", "e │ f", "g │ h"]  # a reply's own table is text, not a panel
    assert rules.without_side_panel(table) == table


def test_a_prompt_that_claude_would_run_as_a_command_gets_a_backslash() -> None:
    """First in a prompt, `!` runs the text in bash and `/` as a slash command, even after
    white space or invisible characters: such a prompt is sent with a backslash in front."""
    assert guard_prompt("!rm -rf build", CLAUDE) == "\\!rm -rf build"
    assert guard_prompt("  /clear the cache", CLAUDE) == "\\  /clear the cache"
    assert guard_prompt("\u200b\n!x", CLAUDE) == "\\\u200b\n!x"
    for plain in ("Please run !ls", "line\n/clear", "# heading", "@calc.py", "/"[1:] + "x"):
        assert guard_prompt(plain, CLAUDE) == plain
    assert guard_prompt("!ls", load_profiles()["codex"]) == "!ls"  # Codex has no such mode


def test_a_pasted_prompt_that_looks_like_a_permission_prompt_is_not_one() -> None:
    """A prompt quoting "❯ 1. Yes" sits in the input box, inside its borders, until the CLI
    takes it: that box line is the prompt's own text, not the CLI asking (it was once taken
    as proof that Enter had submitted the prompt, 15 times in 100 look-alike deliveries)."""
    from coder_tui.core.agents.agent import _quotes

    prompt = "choices:\n❯ 1. Yes\n  2. No"
    assert _quotes(prompt, "│ ❯ 1. Yes                                  │")
    assert _quotes(prompt, "❯ 1. Yes")
    assert not _quotes(prompt, "│ Do you want to create notes.txt?          │")
    assert not _quotes(prompt, "│                                           │")
