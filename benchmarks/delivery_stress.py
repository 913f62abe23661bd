"""Delivery stress: many random prompts to one fake agent, each proved submitted exactly once
and answered with the exact reply, in hook mode and in screen-only mode.

Set-up per mode: one ``Agent`` running coder-tui's fake agent (``python -m coder_tui.fake_agent``)
in a PTY of ``--cols`` x ``--rows`` (default 200x50), started the way
tests/functional/test_agent_fake.py does (``load_profiles()["fake"]`` + ``prepare_launch``; for
screen-only mode the profile gets ``hooks: none``). Its script has one rule without a reply, so
every prompt gets the script's ``default_reply: "echo: {prompt}"``, after ``--reply-delay``
seconds, streamed in 20-character chunks ``--chunk-delay`` seconds apart (defaults 0.1 s and
2 ms instead of the fake agent's 0.2 s / 10 ms: the streaming pace is not under test, and 2 ms
is still far below the screen quiescence). ``FAKE_AGENT_STATE_DIR`` points into a temp folder.

The prompts are delivered one after the other with ``Agent.deliver(text)``; after each, the
benchmark waits for the next ``TurnEnded`` event. What is checked:

* **exactly once**: at the end, the fake agent's own transcript
  (``$FAKE_AGENT_STATE_DIR/sessions/<session_id>.jsonl``, one ``{"role": "user"}`` line per
  prompt it submitted) must list the prompts of the successful deliveries, same length, same
  order, equal texts. A delivery that raised must not appear in it.
* **exact reply**: the ``TurnEnded.reply`` that follows a delivery equals ``"echo: " + prompt``.

"The prompt" is the text as the CLI can receive it: ``deliver`` turns CR / CRLF into LF (a
terminal sends Enter as CR, so a CR cannot reach the CLI as text), and the paste encoder removes
every ``ESC [ 2 0 1 ~`` (the bracketed-paste end marker; it would end the paste early and let the
rest run as keys). Both are documented behaviour; :func:`expected_prompt` applies them.

The texts (seeded, ``--seed``): lengths log-uniform from 1 byte to ``--max-bytes`` (20 KiB) of
UTF-8, built from ASCII words and code, CJK, emoji (ZWJ sequences, flags, skin tones, VS16),
accented and combining letters, text that looks like escape sequences written as visible
characters (``^[[31m``, ``\\x1b[201~``, ...), text that looks like the agent's own screen
(``> ``, ``⏺ ``, ``? for shortcuts``, the input box border, ...), newlines, blank and
whitespace-only lines, indented lines, long lines, leading / trailing spaces and blank lines.

Raw control characters (hook mode only; screen-only texts are printable, since a terminal shows
a control character as nothing or as a picture, never as itself): what a real paste can carry.
Tabs, CRLF and lone CR (Windows / old Mac text), ESC sequences (text copied from coloured
terminal output or logs: SGR, OSC titles, a stray ESC, the bracketed-paste start and end
markers), BEL, BS, VT, FF (form feeds in source files), DEL, Ctrl-C / Ctrl-D / Ctrl-U bytes,
C1 controls (U+0085, U+009B) and U+2028 / U+2029. Not NUL: clipboards hand terminals
NUL-terminated strings, so a paste never carries one.

Texts containing the agent's *status* markers (``esc to interrupt`` and the spinner line, the
busy rule; ``Do you want to create ``, ``❯ 1. Yes``, the approval rules) are mixed into the stream
too (``--no-status-markers-in-stream`` leaves them out). Before commit 859d1b4 such a text kept
the agent at working / needs-approval while it was on screen, so every later delivery to the same
agent timed out: they are also delivered as separate *probes*, each to a fresh agent followed by
one plain prompt, and reported on their own.

Screen-only reading: the fake agent writes each line's text and nothing after it, and lets the
terminal wrap a line wider than the pane (``--wrap terminal``, its default). The reply is read
from the emulator with written trailing spaces kept (Ghostty tells a written space from an empty
cell) and soft wraps joined, so trailing blanks, blank and whitespace-only lines at either end
and wide lines all come back exactly; the texts are not made "screen safe" first. With
``--agent-wrap self`` the agent breaks wide lines into indented rows itself, as Ink-based CLIs
do; a screen cannot tell such a break from a newline, so those replies differ by exactly the
breaks' newlines (reported as that cause, ``wide-line`` tag). Replies are also cut from a
scrollback of 10,000 rows (reported as a cause of its own).

Usage::

    .venv/bin/python benchmarks/delivery_stress.py                     # 1000 per mode, both
    .venv/bin/python benchmarks/delivery_stress.py --count 100 --mode screen --seed 7

Not a test: it prints counts, failures (first 3, repr, truncated), time per delivery p50/p95,
the Enter-press and proof-kind histograms and a PASS/FAIL line per mode, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import json
import math
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _common  # noqa: F401  (sys.path set-up)
from _common import banner, percentile, verdict

from coder_tui.core.agents.adapters import NO_HOOKS
from coder_tui.core.agents.agent import Agent, DeliveryError, DeliveryProof
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentStatus,
    ApprovalRequested,
    TurnEnded,
)
from coder_tui.core.agents.launch import prepare_launch
from coder_tui.core.agents.profile import AgentProfile, load_profiles
from coder_tui.fake_agent.tui import text_width

PASTE_END = "\x1b[201~"
MAX_BYTES = 20 * 1024
REPLY_PREFIX = "echo: "
FIRST_MARK_WIDTH = 2 + len(REPLY_PREFIX)  # "⏺ echo: " before a reply's first line
NEXT_MARK_WIDTH = 2  # the hanging indent before its other lines

# --------------------------------------------------------------------------- texts

WORDS = (  # noqa: SIM905
    "the quick brown fox jumps over lazy dog agent prompt reply turn tool file test refactor "
    "parser please and run pytest again fix bug in delivery keep it short why does this fail "
    "return value list dict none true false async await yield import class"
).split()
CODE = [
    "def f(x):",
    "return {'a': [1, 2, 3]}",
    "if (a && b || !c) { x++; }",
    "SELECT * FROM users WHERE id = 42;",
    "echo \"$HOME\" | grep -v 'x' > /dev/null 2>&1",
    "C:\\Users\\me\\file.txt",
    "100% done",
    "a\\nb",  # backslash-n as two visible characters
    "{prompt}",
    "${VAR:-default}",
    "`backticks` and ~tilde~",
    "x = y[:-1] ** 2 // 3",
    '<div class="a">&amp;</div>',
    "#!/bin/sh",
    "-- comment --",
]
EMOJI = ["😀", "🚀", "🎉", "👍🏽", "👨‍👩‍👧", "🇯🇵", "❤️", "✅", "🧪", "☃", "🤖", "⭐"]
ACCENTED = [
    "é", "à", "ü", "ñ", "ç", "ø", "Å", "ß", "e\u0301", "n\u0303", "Ω", "ж", "λ", "ł", "œ",
    "naïve", "café", "Straße", "über", "crème brûlée", "Zürich",
]  # fmt: skip
ESCAPE_LOOKALIKES = [
    "^[[31m", "\\x1b[201~", "\\x1b[200~", "\\e[0m", "\\033[2J", "\\u001b[?2004l", "ESC[201~",
    "^C", "^[", "\\r\\n", "^[[A", "\\x03",
]  # fmt: skip
MARKER_LOOKALIKES = [
    "> ", "⏺ ", "? for shortcuts", "✻ ", "⎿  ", "│ ", "╭──────────╮", "╰──────────╯",
    "↳ queued: ", "echo: ", "Press Ctrl-C again to exit", "Esc to cancel", "❯ ", "› ",
    "⏺ Write(notes.txt)", "⠋ Working…",
]  # fmt: skip
STATUS_MARKERS = [
    "esc to interrupt",
    "\n⠋ Working… (3s · esc to interrupt)\n",
    "Do you want to create notes.txt?",
    "\n❯ 1. Yes",
]
CONTROLS = [
    "\t", "\r\n", "\r", "\x1b[31m", "\x1b[0m", "\x1b[1;32mgreen\x1b[0m", "\x07", "\x08",
    "\x0b", "\x0c", "\x7f", "\x03", "\x04", "\x15", "\x1b", "\x1b[200~", PASTE_END,
    "\x1b[20\x1b[201~1~", "\x85", "\u2028", "\u2029", "\x9b201~", "\x1b]0;title\x07",
]  # fmt: skip


@dataclass(frozen=True)
class Sample:
    text: str
    tags: frozenset[str]


def expected_prompt(text: str) -> str:
    """What the CLI can receive for ``text``: CR/CRLF as LF (``Agent.deliver``) and without
    bracketed-paste end markers (the paste encoder removes them until none re-forms)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n")
    while PASTE_END in data:
        data = data.replace(PASTE_END, "")
    return data


def expected_reply(text: str) -> str:
    return REPLY_PREFIX + expected_prompt(text)


def _cjk(rng: random.Random) -> str:
    blocks = [(0x4E00, 0x9FFF), (0x3041, 0x3096), (0x30A1, 0x30FA), (0xAC00, 0xD7A3)]
    lo, hi = rng.choice(blocks)
    run = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 12)))
    return run + rng.choice(["", "", "、", "。", "「引用」"])


def _long_line(rng: random.Random, screen: bool) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(40, 200))]
    if screen:
        return " ".join(words)
    return "\t".join(words) if rng.random() < 0.2 else " ".join(words)


def _fragment(rng: random.Random, *, screen: bool, status_markers: bool) -> str:
    kinds: list[tuple[float, Callable[[], str]]] = [
        (40, lambda: rng.choice(WORDS)),
        (8, lambda: rng.choice(CODE)),
        (8, lambda: _cjk(rng)),
        (5, lambda: rng.choice(EMOJI)),
        (5, lambda: rng.choice(ACCENTED)),
        (4, lambda: rng.choice(ESCAPE_LOOKALIKES)),
        (4, lambda: rng.choice(MARKER_LOOKALIKES)),
        (12, lambda: "\n"),
        (3, lambda: "\n\n"),
        (1, lambda: "\n" + " " * rng.randint(1, 6) + "\n"),
        (3, lambda: "\n" + " " * rng.choice([2, 4, 8])),
        (0.5, lambda: "\n" + _long_line(rng, screen) + "\n"),
    ]
    if not screen:
        kinds.append((4, lambda: rng.choice(CONTROLS)))
    if status_markers:
        kinds.append((1, lambda: rng.choice(STATUS_MARKERS)))
    total = sum(weight for weight, _ in kinds)
    pick = rng.uniform(0, total)
    for weight, make in kinds:
        pick -= weight
        if pick <= 0:
            return make()
    return kinds[0][1]()


def _cut_bytes(text: str, size: int) -> str:
    return text.encode()[: max(0, size)].decode("utf-8", "ignore")


def make_text(rng: random.Random, size: int, *, screen: bool, status_markers: bool = False) -> str:
    """One random text of at most ``size`` UTF-8 bytes (about that many), never blank."""
    lead = trail = ""
    if size >= 16:
        if rng.random() < 0.15:
            lead += " " * rng.randint(1, 4)
        if rng.random() < 0.08:
            lead = rng.choice(["\n", "\n\n", " \n"]) + lead
        if rng.random() < 0.15:
            trail += " " * rng.randint(1, 4)
        if rng.random() < 0.08:
            trail += rng.choice(["\n", "\n\n", "\n \n"])
    body_size = size - len(lead.encode()) - len(trail.encode())
    pieces: list[str] = []
    used = 0
    while used < body_size:
        piece = _fragment(rng, screen=screen, status_markers=status_markers)
        glue = "" if not pieces or "\n" in (pieces[-1][-1:] + piece[:1]) else " "
        if glue and rng.random() < 0.1:
            glue = ""
        pieces.append(glue + piece)
        used += len((glue + piece).encode())
    text = lead + _cut_bytes("".join(pieces), body_size) + trail
    if not expected_prompt(text).strip():
        text = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return text


def tags_for(text: str, cols: int) -> frozenset[str]:
    """What kind of text this is, for breaking failures down (a text has several tags)."""
    prompt = expected_prompt(text)
    lines = prompt.split("\n")
    tags: set[str] = set()
    size = len(text.encode())
    tags.add(
        "size<64B" if size < 64 else "size<1K" if size < 1024 else "size<4K" if size < 4096
        else "size>=4K"
    )  # fmt: skip
    if len(lines) > 1:
        tags.add("multiline")
    blank = [not line.strip() for line in lines]
    if any(blank[0:1]) or any(blank[-1:]):
        tags.add("edge-blank-line")
    inside = [i for i, b in enumerate(blank) if b and 0 < i < len(lines) - 1]
    if any(not all(blank[:i]) and not all(blank[i + 1 :]) for i in inside):
        tags.add("inner-blank-line")
    if any(line != line.rstrip() for line in lines):
        tags.add("trailing-ws")
    if prompt[:1].isspace():
        tags.add("leading-ws")
    if any(0x3040 <= ord(c) <= 0x9FFF or 0xAC00 <= ord(c) <= 0xD7A3 for c in prompt):
        tags.add("cjk")
    if any(ord(c) >= 0x1F000 or c in "❤☃✅⭐" for c in prompt):
        tags.add("emoji")
    if any(0x1F1E6 <= ord(c) <= 0x1F1FF for c in prompt):
        tags.add("flag-emoji")  # 4 cells per flag (2 per regional indicator), as the emulator
    if any(0xC0 <= ord(c) <= 0x24F or 0x300 <= ord(c) <= 0x4FF for c in prompt):
        tags.add("accents")
    if any(s in prompt for s in ESCAPE_LOOKALIKES):
        tags.add("escape-lookalike")
    if any(s.strip() and s.strip() in prompt for s in MARKER_LOOKALIKES):
        tags.add("marker-lookalike")
    if any(s.strip() in prompt for s in STATUS_MARKERS):
        tags.add("status-marker")
    controls = [c for c in text if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0)]
    controls += [c for c in text if c in "\u2028\u2029"]
    if controls:
        tags.add("control")
    if "\x1b" in text:
        tags.add("esc")
    if "\r" in text:
        tags.add("cr")
    if "\t" in text:
        tags.add("tab")
    if PASTE_END in text.replace("\r\n", "\n").replace("\r", "\n"):
        tags.add("paste-end-marker")
    if FIRST_MARK_WIDTH + text_width(lines[0]) > cols or any(
        NEXT_MARK_WIDTH + text_width(line) > cols for line in lines[1:]
    ):
        tags.add("wide-line")
    return frozenset(tags)


def generate(
    count: int,
    seed: int | str,
    *,
    screen: bool,
    max_bytes: int = MAX_BYTES,
    cols: int = 200,
    status_markers: bool = False,
) -> list[Sample]:
    """``count`` seeded random texts, lengths log-uniform in 1..max_bytes bytes."""
    rng = random.Random(f"{seed}:{'screen' if screen else 'hooks'}")
    samples = []
    for _ in range(count):
        size = round(math.exp(rng.uniform(0.0, math.log(max_bytes))))
        text = make_text(rng, size, screen=screen, status_markers=status_markers)
        samples.append(Sample(text, tags_for(text, cols)))
    return samples


# --------------------------------------------------------------------------- running


@dataclass
class Delivery:
    index: int
    sample: Sample
    proof: DeliveryProof | None = None
    error: str | None = None
    deliver_s: float = float("nan")  # deliver() call to its return (the proof)
    turn_s: float = float("nan")  # deliver() call to the TurnEnded event
    reply: str | None = None
    reply_source: str | None = None
    scrollback_rows: int = 0
    trimmed: bool = False  # the scrollback's oldest row changed during the turn (cap reached)


@dataclass
class ModeRun:
    mode: str
    deliveries: list[Delivery]
    transcript_users: list[str]
    turn_events: int
    approval_events: int
    seconds: float
    exited: str | None = None
    aborted: str | None = None


def fake_profile(hooks: bool, quiescence: float | None = None) -> AgentProfile:
    profile = load_profiles()["fake"]
    changes: dict[str, object] = {}
    if not hooks:
        changes["hooks"] = NO_HOOKS
    if quiescence is not None:
        changes["screen"] = profile.screen.model_copy(update={"quiescence": quiescence})
    return profile.model_copy(update=changes)


def echo_script(reply_delay: float, chunk_delay: float) -> str:
    return (
        "rules:\n"
        f"  - delay: {reply_delay}\n"
        f"    chunk_delay: {chunk_delay}\n"
        "default_reply: 'echo: {prompt}'\n"
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


async def start_agent(
    root: Path,
    *,
    hooks: bool,
    name: str = "stress",
    cols: int = 200,
    rows: int = 50,
    quiescence: float | None = None,
    reply_delay: float = 0.1,
    chunk_delay: float = 0.002,
    agent_wrap: str = "terminal",
) -> tuple[Agent, list[AgentEvent]]:
    """The fake agent with the echo script, started and idle (the test_agent_fake pattern)."""
    profile = fake_profile(hooks, quiescence)
    work = root / "work"
    script = root / f"{name}-script.yaml"
    _write(script, echo_script(reply_delay, chunk_delay))
    work.mkdir(parents=True, exist_ok=True)
    spec = prepare_launch(
        profile,
        agent=name,
        cwd=work,
        agent_dir=root / "run" / name,
        extra_args=["--script", str(script), "--wrap", agent_wrap],
    )
    spec.env["FAKE_AGENT_STATE_DIR"] = str(root / "fake-state")
    agent = Agent(name, profile, spec, cols=cols, rows=rows)
    events: list[AgentEvent] = []
    agent.subscribe(events.append)
    await agent.start()
    await agent.wait_for_status(AgentStatus.IDLE, within=30)
    if agent.status is not AgentStatus.IDLE:
        raise RuntimeError(f"fake agent did not start: {agent.session.screen.text()}")
    return agent, events


def transcript_users(root: Path, agent: Agent) -> list[str]:
    """The user prompts in the fake agent's transcript, in order. (Split on LF only: the JSON
    lines may hold raw U+2028 / U+0085, which ``str.splitlines`` would also split on.)"""
    path = root / "fake-state" / "sessions" / f"{agent.session_id}.jsonl"
    if not path.exists():
        return []
    users = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            entry = json.loads(line)
            if entry.get("role") == "user":
                users.append(entry["text"])
    return users


def _turns(events: list[AgentEvent]) -> list[TurnEnded]:
    return [e for e in events if isinstance(e, TurnEnded)]


async def deliver_one(
    agent: Agent,
    events: list[AgentEvent],
    index: int,
    sample: Sample,
    *,
    ready_timeout: float,
    turn_timeout: float,
) -> Delivery:
    """Deliver one text, then wait for the TurnEnded that follows it."""
    record = Delivery(index, sample)
    oldest = _oldest_row(agent)
    turns_before = len(_turns(events))
    called_wall = time.time()
    called = time.monotonic()
    try:
        record.proof = (await agent.deliver(sample.text, ready_timeout=ready_timeout)).proof
    except DeliveryError as exc:
        record.error = f"DeliveryError: {exc}"
    except TimeoutError:
        record.error = f"TimeoutError: not ready within {ready_timeout:.0f}s ({agent.status})"
    record.deliver_s = time.monotonic() - called
    if record.proof is not None:
        deadline = time.monotonic() + turn_timeout
        while len(_turns(events)) <= turns_before and time.monotonic() < deadline:
            if agent.status is AgentStatus.EXITED:
                break
            await asyncio.sleep(0.005)
        turns = _turns(events)
        if len(turns) > turns_before:
            turn = turns[turns_before]
            record.reply = turn.reply
            record.reply_source = str(turn.source)
            record.turn_s = turn.at - called_wall
        else:
            record.error = f"no TurnEnded within {turn_timeout:.0f}s ({agent.status})"
    else:
        agent.session.write(b"\x15")  # Ctrl-U: clear what is left in the box, no cascade
    record.scrollback_rows = agent.session.screen.scrollback_rows
    record.trimmed = _oldest_row(agent) != oldest
    return record


def _oldest_row(agent: Agent) -> str:
    """The first row of scrollback + screen (the header until the scrollback cap trims it)."""
    return agent.session.screen.contents().split("\n", 1)[0]


async def run_mode(
    samples: Sequence[Sample],
    *,
    hooks: bool,
    root: Path,
    cols: int = 200,
    rows: int = 50,
    quiescence: float | None = None,
    reply_delay: float = 0.1,
    chunk_delay: float = 0.002,
    ready_timeout: float = 30.0,
    turn_timeout: float = 120.0,
    max_consecutive_failures: int = 5,
    progress: Callable[[int, list[Delivery], float], None] | None = None,
    agent_wrap: str = "terminal",
) -> ModeRun:
    """All ``samples`` to one agent, in order; returns what happened (checked by ``check``)."""
    started = time.monotonic()
    agent, events = await start_agent(
        root,
        hooks=hooks,
        cols=cols,
        rows=rows,
        quiescence=quiescence,
        reply_delay=reply_delay,
        chunk_delay=chunk_delay,
        agent_wrap=agent_wrap,
    )
    deliveries: list[Delivery] = []
    aborted = None
    try:
        consecutive = 0
        for index, sample in enumerate(samples):
            record = await deliver_one(
                agent, events, index, sample, ready_timeout=ready_timeout,
                turn_timeout=turn_timeout,
            )  # fmt: skip
            deliveries.append(record)
            consecutive = consecutive + 1 if record.error else 0
            if progress is not None:
                progress(index + 1, deliveries, time.monotonic() - started)
            if agent.status is AgentStatus.EXITED:
                aborted = f"agent exited after delivery {index}"
                break
            if consecutive >= max_consecutive_failures:
                aborted = f"{consecutive} failures in a row; stopped at delivery {index}"
                break
        await asyncio.sleep(0.3)  # let a late (spurious) event show up in the counts
    finally:
        exited = agent.exit.description if agent.exit else None
        await agent.stop()
    return ModeRun(
        mode="hooks" if hooks else "screen",
        deliveries=deliveries,
        transcript_users=transcript_users(root, agent),
        turn_events=len(_turns(events)),
        approval_events=sum(isinstance(e, ApprovalRequested) for e in events),
        seconds=time.monotonic() - started,
        exited=exited,
        aborted=aborted,
    )


# --------------------------------------------------------------------------- checking


SCREEN_CAUSES = (
    "the agent broke a line wider than the pane itself (--agent-wrap self): only those "
    "breaks' newlines differ",
    "BUG empty reply: the turn's last lines repeat those before it (anchor found at the end)",
    "BUG scrollback cap reached during the turn: reply = old scrollback",
    "unexplained",
)


def screen_cause(delivery: Delivery) -> str:
    """Why a screen-only reply is not exact (the first cause that fits)."""
    want = expected_reply(delivery.sample.text)
    reply = delivery.reply or ""
    if reply.replace("\n", "") == want.replace("\n", "") and reply.count("\n") > want.count("\n"):
        return SCREEN_CAUSES[0]
    if reply == "":
        return SCREEN_CAUSES[1]
    if delivery.trimmed:
        return SCREEN_CAUSES[2]
    return SCREEN_CAUSES[3]


@dataclass
class Failure:
    index: int
    kind: str  # "delivery", "exactly-once", "reply"
    text: str
    detail: str
    tags: frozenset[str] = field(default_factory=frozenset)


@dataclass
class Check:
    delivered: int = 0
    errors: int = 0
    sequence_equal: bool = False
    once_ok: int = 0
    unexpected_entries: list[str] = field(default_factory=list)
    replies_exact: int = 0
    failures: list[Failure] = field(default_factory=list)
    extra_turns: int = 0
    causes: Counter[str] = field(default_factory=Counter)  # screen-only reply mismatches

    @property
    def ok(self) -> bool:
        return not self.failures and self.sequence_equal and self.extra_turns == 0


def _short(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 25] + f"...<{len(text)} chars>"


def check(run: ModeRun) -> Check:
    """Exactly once (transcript vs the successful deliveries) and exact replies."""
    result = Check()
    ok_deliveries = [d for d in run.deliveries if d.proof is not None]
    expected = [expected_prompt(d.sample.text) for d in ok_deliveries]
    got = run.transcript_users
    result.delivered = len(ok_deliveries)
    result.errors = len(run.deliveries) - len(ok_deliveries)
    result.sequence_equal = expected == got
    matched: set[int] = set()
    matcher = difflib.SequenceMatcher(None, expected, got, autojunk=False)
    for block in matcher.get_matching_blocks():
        matched.update(range(block.a, block.a + block.size))
    in_got = Counter(got)
    in_expected = Counter(expected)
    for position, delivery in enumerate(ok_deliveries):
        prompt = expected[position]
        if position in matched and in_got[prompt] == in_expected[prompt]:
            result.once_ok += 1
        else:
            result.failures.append(
                Failure(
                    delivery.index, "exactly-once", delivery.sample.text,
                    f"in transcript {in_got[prompt]}x, sent {in_expected[prompt]}x, "
                    f"in order: {position in matched}",
                    delivery_tags(delivery),
                )
            )  # fmt: skip
    result.unexpected_entries = [entry for entry in got if entry not in in_expected]
    for delivery in run.deliveries:
        if delivery.error is not None:
            result.failures.append(
                Failure(delivery.index, "delivery", delivery.sample.text, delivery.error,
                        delivery_tags(delivery))
            )  # fmt: skip
        if delivery.reply is None:
            continue
        want = expected_reply(delivery.sample.text)
        if delivery.reply == want:
            result.replies_exact += 1
            continue
        if run.mode == "screen":
            result.causes[screen_cause(delivery)] += 1
        result.failures.append(
            Failure(
                delivery.index, "reply", delivery.sample.text,
                f"got {_short(delivery.reply, 120)} want {_short(want, 120)} "
                f"(source {delivery.reply_source}, scrollback {delivery.scrollback_rows} rows)",
                delivery_tags(delivery),
            )
        )  # fmt: skip
    result.extra_turns = run.turn_events - sum(d.reply is not None for d in run.deliveries)
    return result


def report(run: ModeRun, result: Check, *, label: str, screen: bool) -> list[str]:
    deliveries = run.deliveries
    proofs = [d.proof for d in deliveries if d.proof is not None]
    deliver_ms = [d.deliver_s * 1000 for d in deliveries if d.proof is not None]
    turn_ms = [d.turn_s * 1000 for d in deliveries if d.reply is not None]
    sizes = [len(d.sample.text.encode()) for d in deliveries]
    out = [f"-- {label}: {len(deliveries)} deliveries in {run.seconds:.0f}s"]
    if sizes:
        out.append(
            f"   text sizes: min {min(sizes)} B, median {sorted(sizes)[len(sizes) // 2]} B, "
            f"max {max(sizes)} B, total {sum(sizes) / 1024:.0f} KiB"
        )
    out.append(f"   delivered (proof):   {result.delivered}/{len(deliveries)}"
               f"   errors: {result.errors}")  # fmt: skip
    out.append(
        f"   exactly-once OK:     {result.once_ok}/{result.delivered}   transcript "
        f"{len(run.transcript_users)} user entries, sequence equal: {result.sequence_equal}, "
        f"unexpected entries: {len(result.unexpected_entries)}"
    )
    replied = sum(d.reply is not None for d in deliveries)
    out.append(f"   replies exact:       {result.replies_exact}/{replied}")
    out.append(
        f"   extra TurnEnded events: {result.extra_turns}   ApprovalRequested events: "
        f"{run.approval_events}"
    )
    out.append(
        f"   deliver() -> proof ms:      p50 {percentile(deliver_ms, 50):7.1f}  "
        f"p95 {percentile(deliver_ms, 95):7.1f}  max {max(deliver_ms, default=float('nan')):7.1f}"
    )
    out.append(
        f"   deliver() -> TurnEnded ms:  p50 {percentile(turn_ms, 50):7.1f}  "
        f"p95 {percentile(turn_ms, 95):7.1f}  max {max(turn_ms, default=float('nan')):7.1f}"
    )
    presses = Counter(p.enter_presses for p in proofs)
    out.append("   Enter presses: " + ", ".join(f"{k}: {v}" for k, v in sorted(presses.items())))
    kinds = Counter(p.how for p in proofs)
    out.append("   proof kinds:   " + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()))
    sources = Counter(d.reply_source for d in deliveries if d.reply is not None)
    out.append("   reply sources: " + ", ".join(f"{k}: {v}" for k, v in sources.most_common()))
    if run.aborted:
        out.append(f"   ABORTED: {run.aborted}")
    if run.exited:
        out.append(f"   agent exit: {run.exited}")
    if result.failures:
        kinds_count = Counter(f.kind for f in result.failures)
        out.append(
            f"   failures: {len(result.failures)} ("
            + ", ".join(f"{k}: {v}" for k, v in kinds_count.items()) + ")"
        )  # fmt: skip
        for failure in result.failures[:3]:
            out.append(f"     #{failure.index} {failure.kind}: text {_short(failure.text)}")
            out.append(f"        {failure.detail}")
            out.append(f"        tags: {', '.join(sorted(failure.tags))}")
        out += tag_table(deliveries, result)
        if result.causes:
            out.append("   screen-only reply mismatches by cause (models of the screen read):")
            for cause in SCREEN_CAUSES:
                if result.causes[cause]:
                    out.append(f"     {result.causes[cause]:5}  {cause}")
        reply_failures = [f for f in result.failures if f.kind == "reply"]
        if reply_failures:
            first = reply_failures[0].index
            rows = deliveries[first].scrollback_rows
            out.append(f"   first reply mismatch at delivery #{first} (scrollback {rows} rows)")
    if result.unexpected_entries:
        out.append(f"   unexpected transcript entries (first 3): "
                   f"{[_short(e, 80) for e in result.unexpected_entries[:3]]}")  # fmt: skip
    out.append(f"   {verdict(result.ok)} {label}: every delivery submitted exactly once with "
               f"the exact reply")  # fmt: skip
    return out


def delivery_tags(delivery: Delivery) -> frozenset[str]:
    extra = {"scrollback-trimmed"} if delivery.trimmed else set()
    return delivery.sample.tags | extra


# What a screen cannot carry when the agent breaks wide lines itself (--agent-wrap self), and
# a known cause of loss; a failure with none of these tags is unexplained.
LIMIT_TAGS = frozenset({"wide-line"})
KNOWN_DEFECT_TAGS = frozenset({"scrollback-trimmed"})


def tag_table(deliveries: Sequence[Delivery], result: Check) -> list[str]:
    """Failure rate per text tag (a text has several tags)."""
    failed = {f.index for f in result.failures}
    per_tag: dict[str, list[int]] = {}
    for delivery in deliveries:
        for tag in delivery_tags(delivery):
            per_tag.setdefault(tag, []).append(delivery.index)
    lines = ["   failures by tag (failed/total):"]
    for tag, indexes in sorted(per_tag.items(), key=lambda kv: -sum(i in failed for i in kv[1])):
        bad = sum(i in failed for i in indexes)
        lines.append(f"     {tag:<18} {bad:4}/{len(indexes):<4}")
    for label, excluded in (
        ("/".join(sorted(LIMIT_TAGS)), LIMIT_TAGS),
        ("those or " + "/".join(sorted(KNOWN_DEFECT_TAGS)), LIMIT_TAGS | KNOWN_DEFECT_TAGS),
    ):
        clean = [d.index for d in deliveries if not delivery_tags(d) & excluded]
        bad_clean = [i for i in clean if i in failed]
        lines.append(
            f"   texts without {label}: {len(bad_clean)}/{len(clean)} failed"
            + (f" (#{', #'.join(map(str, bad_clean[:10]))})" if bad_clean else "")
        )
    return lines


# --------------------------------------------------------------------------- status markers


PROBES = [
    "please stop, esc to interrupt does not work",
    "Do you want to create notes.txt?",
    "choices:\n❯ 1. Yes\n  2. No",
]


async def run_probe(text: str, *, hooks: bool, root: Path, cols: int, rows: int) -> str:
    """One status-marker text, then a plain prompt, to a fresh agent: what happened."""
    agent, events = await start_agent(root, hooks=hooks, cols=cols, rows=rows)
    notes: list[str] = []
    try:
        for index, sample in enumerate([text, "plain follow-up"]):
            record = await deliver_one(
                agent, events, index, Sample(sample, frozenset()), ready_timeout=10,
                turn_timeout=10,
            )  # fmt: skip
            if record.error:
                notes.append(f"#{index} {record.error}")
            elif record.reply != expected_reply(sample):
                notes.append(f"#{index} reply {_short(record.reply, 80)}")
            else:
                notes.append(f"#{index} ok")
        await asyncio.sleep(1.5)
        notes.append(f"status after: {agent.status}")
        notes.append(f"ApprovalRequested: {sum(isinstance(e, ApprovalRequested) for e in events)}")
        users = transcript_users(root, agent)
        notes.append(f"transcript: {[_short(u, 40) for u in users]}")
    finally:
        await agent.stop()
    return "; ".join(notes)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="deliveries per mode")
    parser.add_argument("--seed", default="1")
    parser.add_argument("--mode", choices=["hooks", "screen", "both"], default="both")
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES)
    parser.add_argument("--cols", type=int, default=200)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--reply-delay", type=float, default=0.1)
    parser.add_argument("--chunk-delay", type=float, default=0.002)
    parser.add_argument("--quiescence", type=float, help="screen quiescence (profile: 1.0 s)")
    parser.add_argument(
        "--agent-wrap",
        choices=["terminal", "self"],
        default="terminal",
        help="how the fake agent wraps a line wider than the pane (its --wrap)",
    )
    parser.add_argument("--no-status-markers-in-stream", action="store_true")
    parser.add_argument("--no-probes", action="store_true", help="skip the status-marker probes")
    parser.add_argument("--dump", type=Path, help="write every failure as JSONL here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> None:
    modes = ["hooks", "screen"] if args.mode == "both" else [args.mode]
    tmp = Path(tempfile.mkdtemp(prefix="delivery-stress-"))
    print(
        f"pane {args.cols}x{args.rows}, reply delay {args.reply_delay}s, chunk delay "
        f"{args.chunk_delay}s, seed {args.seed}, max {args.max_bytes} B, agent wraps: "
        f"{args.agent_wrap}, temp {tmp}",
        flush=True,
    )
    verdicts = []
    dump = args.dump.open("w", encoding="utf-8") if args.dump else None
    try:
        for mode in modes:
            screen = mode == "screen"
            samples = generate(
                args.count, args.seed, screen=screen, max_bytes=args.max_bytes, cols=args.cols,
                status_markers=not args.no_status_markers_in_stream,
            )  # fmt: skip

            def progress(
                done: int, records: list[Delivery], seconds: float, mode: str = mode
            ) -> None:
                if done % 50 == 0 or done == args.count:
                    bad = sum(
                        r.error is not None
                        or (r.reply is not None and r.reply != expected_reply(r.sample.text))
                        for r in records
                    )
                    print(f"   [{mode}] {done}/{args.count} done, {bad} failed so far, "
                          f"{seconds:.0f}s", flush=True)  # fmt: skip

            run = await run_mode(
                samples, hooks=not screen, root=tmp / mode, cols=args.cols, rows=args.rows,
                quiescence=args.quiescence, reply_delay=args.reply_delay,
                chunk_delay=args.chunk_delay, progress=progress, agent_wrap=args.agent_wrap,
            )  # fmt: skip
            result = check(run)
            label = "hook mode" if not screen else "screen-only mode"
            for line in report(run, result, label=label, screen=screen):
                print(line, flush=True)
            verdicts.append(f"{verdict(result.ok)} {label}")
            if dump is not None:
                for failure in result.failures:
                    reply = run.deliveries[failure.index].reply
                    dump.write(json.dumps({
                        "mode": mode, "index": failure.index, "kind": failure.kind,
                        "text": failure.text, "expected_reply": expected_reply(failure.text),
                        "reply": reply, "detail": failure.detail, "tags": sorted(failure.tags),
                    }, ensure_ascii=False) + "\n")  # fmt: skip
            if not args.no_probes:
                print(f"   status-marker probes ({mode}, fresh agent each, then a plain prompt):")
                for number, text in enumerate(PROBES):
                    outcome = await run_probe(
                        text, hooks=not screen, root=tmp / f"{mode}-probe{number}",
                        cols=args.cols, rows=args.rows,
                    )  # fmt: skip
                    print(f"     {_short(text, 60)}: {outcome}", flush=True)
    finally:
        if dump is not None:
            dump.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    for line in verdicts:
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    banner("delivery stress: exactly-once delivery and exact replies, fake agent")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
