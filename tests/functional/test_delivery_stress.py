"""Delivery under stress, small enough for the suite: seeded random prompts (up to 4 KiB) and a
few hand-picked nasty ones, each proved submitted exactly once by the fake agent's own
transcript and answered with the exact reply, in hook mode and in screen-only mode.

The texts, the run and the check are benchmarks/delivery_stress.py's (the full benchmark sends
1000 per mode, up to 20 KiB). Screen-only texts are taken as generated: trailing blanks, blank
and whitespace-only lines at the ends, lines wider than the pane. The fake agent writes only its
text and lets the terminal wrap wide lines, and the reply is read with written spaces kept and
soft wraps joined, so all of it comes back exactly. An agent that breaks wide lines itself (like
Ink-based CLIs) cannot be read back exactly there: that limit has its own test below.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import delivery_stress as ds  # noqa: E402

from coder_tui.core.agents.agent import Agent, DeliveryError  # noqa: E402
from coder_tui.core.agents.events import (  # noqa: E402
    AgentEvent,
    AgentStatus,
    ApprovalPolicy,
    ApprovalRequested,
    TurnEnded,
)
from coder_tui.core.agents.launch import prepare_launch  # noqa: E402
from tests.conftest import wait_for  # noqa: E402

pytestmark = pytest.mark.slow

SEED = 20261122
COUNT = 40
MAX_BYTES = 4096
COLS, ROWS = 200, 50
REPLY_DELAY, CHUNK_DELAY = 0.02, 0.001  # the pace of the fake agent's reply
QUIESCENCE = 0.5  # screen-only: keeps 40 turns well inside a minute (profile: 1.0 s)


def twenty_kib_text() -> str:
    """A multi-line mixed text (controls included) of exactly 20 KiB as sent."""
    text = ds.make_text(random.Random(SEED), ds.MAX_BYTES, screen=False).replace("\r", "")
    text = ds._cut_bytes(text, ds.MAX_BYTES - 1)
    text += "x" * (ds.MAX_BYTES - len(text.encode()))
    assert len(text.encode()) == ds.MAX_BYTES
    return text


PASTE_ESCAPE = "safe part\x1b[201~\x15\x03\x03 typed if the paste ended\x1b[200~ still pasted"
NESTED_MARKER = "before\x1b[20\x1b[201~1~after"

HOOK_NASTY = [
    "? for shortcuts",
    PASTE_ESCAPE,
    NESTED_MARKER,
    "> looks like a prompt\n⏺ looks like a reply\n╭──────────╮\n│ > box │",
    twenty_kib_text(),
]
SCREEN_NASTY = [
    "? for shortcuts",
    "> looks like a prompt\n⏺ looks like a reply\n  ⎿  and a tool result\n╭──────────╮",
    "^[[31m not red \\x1b[201~ not an end marker \\e[0m",
    "w" * (COLS - ds.FIRST_MARK_WIDTH),  # the reply row exactly as wide as the pane
    "中文" * ((COLS - ds.FIRST_MARK_WIDTH) // 4) + "\n  indented ☃ café 😀 👨‍👩‍👧",
    # No keycap (1️⃣): the emulator drops a VS16 after a digit, so it cannot be read back.
    "flags 🇯🇵🇫🇷, a lone 🇫, 👍🏽 ❤️ ☺️ e\u0301 🏳️\u200d🌈\n" + "🇯🇵" * ((COLS - 2) // 4),
]


def samples(texts: list[str]) -> list[ds.Sample]:
    return [ds.Sample(text, ds.tags_for(text, COLS)) for text in texts]


def describe(run: ds.ModeRun, result: ds.Check, screen: bool) -> str:
    return "\n".join(ds.report(run, result, label=run.mode, screen=screen))


async def start(tmp_path: Path, *, hooks: bool, agent_wrap: str = "terminal"):  # type: ignore[no-untyped-def]
    """A fake agent with this file's timing, in hook or screen-only mode."""
    return await ds.start_agent(
        tmp_path,
        hooks=hooks,
        agent_wrap=agent_wrap,
        quiescence=QUIESCENCE,
        reply_delay=REPLY_DELAY,
        chunk_delay=CHUNK_DELAY,
    )


async def test_hook_mode_random_and_nasty_texts_exactly_once_and_exact(tmp_path: Path) -> None:
    texts = [s.text for s in ds.generate(COUNT, SEED, screen=False, max_bytes=MAX_BYTES)]
    run = await ds.run_mode(
        samples(texts + HOOK_NASTY),
        hooks=True,
        root=tmp_path,
        cols=COLS,
        rows=ROWS,
        ready_timeout=15,
        turn_timeout=30,
        reply_delay=REPLY_DELAY,
        chunk_delay=CHUNK_DELAY,
    )
    result = ds.check(run)
    assert result.ok, describe(run, result, screen=False)
    assert len(run.deliveries) == COUNT + len(HOOK_NASTY)
    # The end markers were removed inside the paste, so nothing after them ran as keys (the
    # Ctrl-U would have cleared the box, the Ctrl-Cs would have armed the agent's exit).
    assert "safe part\x15\x03\x03 typed if the paste ended\x1b[200~ still pasted" in (
        run.transcript_users
    )
    assert "beforeafter" in run.transcript_users
    assert ds.MAX_BYTES in [len(d.sample.text.encode()) for d in run.deliveries]
    assert all(d.proof is not None and d.proof.how == "prompt hook" for d in run.deliveries)


async def test_screen_only_random_and_nasty_texts_exactly_once_and_exact(
    tmp_path: Path,
) -> None:
    texts = [s.text for s in ds.generate(COUNT, SEED, screen=True, max_bytes=MAX_BYTES, cols=COLS)]
    run = await ds.run_mode(
        samples(texts + SCREEN_NASTY),
        hooks=False,
        root=tmp_path,
        cols=COLS,
        rows=ROWS,
        quiescence=QUIESCENCE,
        ready_timeout=15,
        turn_timeout=30,
        reply_delay=REPLY_DELAY,
        chunk_delay=CHUNK_DELAY,
    )
    result = ds.check(run)
    assert result.ok, describe(run, result, screen=True)
    assert len(run.deliveries) == COUNT + len(SCREEN_NASTY)
    assert sum(len(t.encode()) > 1024 for t in texts) >= 5  # not only short texts
    # What an earlier reader lost is in the mix, and came back exactly.
    tags = set().union(*(d.sample.tags for d in run.deliveries))
    assert {"trailing-ws", "edge-blank-line", "leading-ws", "wide-line"} <= tags, tags


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "screen-only"])
async def test_blank_text_is_refused_and_nothing_is_submitted(tmp_path: Path, hooks: bool) -> None:
    agent, events = await start(tmp_path, hooks=hooks)
    try:
        for blank in ["\n\n", "   ", "\r\n \t\n"]:
            with pytest.raises(DeliveryError, match="empty"):
                await agent.deliver(blank)
        await agent.deliver("after the blanks")
        turn = await next_turn(events, 0)
        assert turn.reply == "echo: after the blanks"
        assert ds.transcript_users(tmp_path, agent) == ["after the blanks"]
    finally:
        await agent.stop()


# --- known defects (each reproduced exactly; see the reasons) ---------------------------------


async def test_screen_only_reply_after_a_blank_line_is_exact(tmp_path: Path) -> None:
    text = "para one\n\npara two\n  indented"
    agent, events = await start(tmp_path, hooks=False)
    try:
        await agent.deliver(text)
        assert (await next_turn(events, 0)).reply == f"echo: {text}"
    finally:
        await agent.stop()


async def test_screen_only_reply_to_a_prompt_wider_than_the_pane_is_exact(
    tmp_path: Path,
) -> None:
    text = "please " * 40 + "end"  # 283 cells in a 200-column pane: echo and reply wrap
    agent, events = await start(tmp_path, hooks=False)
    try:
        await agent.deliver(text)
        assert (await next_turn(events, 0)).reply == f"echo: {text}"
    finally:
        await agent.stop()


async def test_screen_only_reply_of_an_agent_that_breaks_wide_lines_itself(
    tmp_path: Path,
) -> None:
    """The limit that stays: an agent that breaks a wide line into indented rows itself (like
    Ink-based CLIs) draws exactly what a reply with that newline would draw."""
    text = "please " * 40 + "end"
    agent, events = await start(tmp_path, hooks=False, agent_wrap="self")
    try:
        await agent.deliver(text)
        reply = (await next_turn(events, 0)).reply
        first_row = f"echo: {text}"[: COLS - len("⏺ ")]
        assert reply == first_row + "\n" + f"echo: {text}"[len(first_row) :]
    finally:
        await agent.stop()


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "screen-only"])
async def test_prompt_with_the_busy_marker_does_not_keep_the_agent_working(
    tmp_path: Path, hooks: bool
) -> None:
    agent, events = await start(tmp_path, hooks=hooks)
    try:
        await agent.deliver("please stop, esc to interrupt does not work")
        await next_turn(events, 0, within=8)
        await asyncio.sleep(2 * QUIESCENCE)  # absence over two quiet windows: evaluations ran
        assert agent.status is AgentStatus.IDLE
        await agent.deliver("next", ready_timeout=5)
        assert (await next_turn(events, 1)).reply == "echo: next"
    finally:
        await agent.stop()


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "screen-only"])
async def test_prompt_that_looks_like_an_approval_is_not_one(tmp_path: Path, hooks: bool) -> None:
    agent, events = await start(tmp_path, hooks=hooks)
    try:
        await agent.deliver("Do you want to create notes.txt? asks the tool")
        await next_turn(events, 0, within=8)
        await asyncio.sleep(2 * QUIESCENCE)  # absence over two quiet windows: evaluations ran
        assert not [e for e in events if isinstance(e, ApprovalRequested)]
        assert agent.status is AgentStatus.IDLE
    finally:
        await agent.stop()


async def test_approve_all_policy_does_not_alter_a_prompt_that_looks_like_an_approval(
    tmp_path: Path,
) -> None:
    profile = ds.fake_profile(True)
    (tmp_path / "work").mkdir()
    spec = prepare_launch(profile, agent="auto", cwd=tmp_path / "work", agent_dir=tmp_path / "run")
    spec.env["FAKE_AGENT_STATE_DIR"] = str(tmp_path / "fake-state")
    agent = Agent("auto", profile, spec, cols=COLS, rows=ROWS, policy=ApprovalPolicy.APPROVE_ALL)
    events: list[AgentEvent] = []
    agent.subscribe(events.append)
    await agent.start()
    text = "Do you want to create notes.txt? asks the tool"
    try:
        await agent.wait_for_status(AgentStatus.IDLE, within=15)
        await agent.deliver(text)
        await next_turn(events, 0, within=8)
        assert ds.transcript_users(tmp_path, agent) == [text]
    finally:
        await agent.stop()


async def test_deliver_to_a_busy_agent_raises_delivery_error(tmp_path: Path) -> None:
    agent, _events = await ds.start_agent(tmp_path, hooks=True, reply_delay=3.0)
    try:
        await agent.deliver("a turn that takes three seconds")
        assert agent.status is AgentStatus.WORKING
        with pytest.raises(DeliveryError):
            await agent.deliver("second", ready_timeout=0.2)
    finally:
        await agent.stop()


async def test_screen_only_reply_is_exact_once_the_scrollback_is_full(tmp_path: Path) -> None:
    agent, events = await ds.start_agent(
        tmp_path, hooks=False, quiescence=QUIESCENCE, reply_delay=0.02, chunk_delay=0.0005
    )
    try:
        # Each turn draws ~6,000 rows (prompt echo + reply); the cap is 10,000 + 2,048 rows.
        for index, letter in enumerate("abc"):
            text = "\n".join(f"{letter}{n:04}" for n in range(3000))
            await agent.deliver(text)
            turn = await next_turn(events, index, within=60)
            assert turn.reply == f"echo: {text}", f"turn {index}: {turn.reply[:200]!r}"
    finally:
        await agent.stop()


async def test_screen_only_reply_to_a_repeated_prompt_is_exact(tmp_path: Path) -> None:
    agent, events = await start(tmp_path, hooks=False)
    try:
        replies = []
        for index in range(5):
            await agent.deliver("status?")
            replies.append((await next_turn(events, index)).reply)
        assert replies == ["echo: status?"] * 5
    finally:
        await agent.stop()


@pytest.mark.parametrize(
    "text",
    ["\nhello", "   \nhello\nworld", "two trailing spaces  \n\n   \nlast  ", "end\n\n"],
    ids=["blank-first-line", "spaces-first-line", "trailing-spaces", "blank-last-lines"],
)
async def test_screen_only_reply_keeps_blank_lines_and_trailing_spaces(
    tmp_path: Path, text: str
) -> None:
    agent, events = await start(tmp_path, hooks=False)
    try:
        await agent.deliver(text)
        reply = (await next_turn(events, 0)).reply
        assert reply == f"echo: {text}"
    finally:
        await agent.stop()


@pytest.mark.parametrize("agent_wrap", ["terminal", "self"])
@pytest.mark.parametrize("xs", [166, 170], ids=["fills-the-row", "one-flag-wraps"])
async def test_screen_only_reply_with_flag_emoji(tmp_path: Path, xs: int, agent_wrap: str) -> None:
    # A flag is two regional indicators, 2 cells each in the emulator (4 per flag). The reply
    # row "⏺ echo: flags " + xs x's + 5 flags is 14 + xs + 20 cells: 200 fills the pane's row
    # exactly, 204 puts the last flag on the next row. (The fake agent once counted 2 cells per
    # flag, wrapped too late, and its cursor-up redraws left stale rows.)
    text = "flags " + "x" * xs + "🇯🇵" * 5
    agent, events = await start(tmp_path, hooks=False, agent_wrap=agent_wrap)
    try:
        await agent.deliver(text)
        reply = (await next_turn(events, 0)).reply
        if xs == 166 or agent_wrap == "terminal":
            assert reply == f"echo: {text}"
        else:  # broken by the agent itself: that newline is all that differs
            assert reply == "echo: flags " + "x" * xs + "🇯🇵" * 4 + "\n" + "🇯🇵"
    finally:
        await agent.stop()


async def next_turn(events: list[AgentEvent], index: int, within: float = 20.0) -> TurnEnded:
    """The ``index``-th TurnEnded (0-based), waiting for it."""

    def turns() -> list[TurnEnded]:
        return [e for e in events if isinstance(e, TurnEnded)]

    await wait_for(
        lambda: len(turns()) > index,
        within,
        message=lambda: f"only {len(turns())} turns ended: {events[-5:]}",
    )
    return turns()[index]
