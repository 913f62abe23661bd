"""Turn-end latency: from the moment a turn is over to the moment the agent layer's
``TurnEnded`` event reaches a subscriber, with hooks and screen-only.

Set-up: one ``Agent`` running coder-tui's fake agent in a 200x50 PTY (as in
benchmarks/delivery_stress.py: the fake profile, an echo script with a 50 ms reply delay and
2 ms between 20-character chunks). ``--turns`` turns (default 100, plus 3 warm-up turns not
counted), one after the other: ``deliver("turn NNN xxx...")``, wait for its ``TurnEnded``, next.
Each reply is one row, ``⏺ echo: turn NNN xxx...``.

Clocks: all ``time.time()`` on the same machine. ``TurnEnded.at`` is stamped when the event is
built, just before the listeners get it (the subscriber here only appends it to a list).

* **screen**: when the reply row is complete on the agent's emulator screen. By default an
  ``on_output`` listener on the agent's ``TerminalSession`` (called right after each read from
  the PTY is fed to the emulator) looks for the row in ``screen.text()``: the exact moment the
  bytes that complete the row reached the screen, without a poller competing for the loop.
  ``--screen-probe poll`` instead polls ``screen.text()`` from a concurrent task every 1 ms.
* **hook**: the ``ts`` field of the Stop record in the agent's events file, i.e.
  ``time.time()`` inside the ``coder-tui hook`` process when it wrote the line (just before its
  ``write`` + ``fsync``).

Hook mode reports ``hook written -> TurnEnded`` (file watch + parse + emit: the agent layer's
own part), ``screen -> hook written`` (the CLI starting its hook process: the fake agent runs the
Stop hook right after drawing the reply, as Claude Code does) and ``screen -> TurnEnded``
(end to end, what a user waiting for the turn sees). Screen-only mode reports
``screen -> TurnEnded``, which is dominated by the profile's quiescence (1.0 s for the fake
agent: the screen must stay quiet that long), at the profile's value and at 0.5 s
(``ScreenRules.model_copy``). Targets: p95 < 300 ms with hooks (screen -> TurnEnded), < 2 s
screen-only.

Usage::

    .venv/bin/python benchmarks/turn_latency.py                 # 100 turns per phase
    .venv/bin/python benchmarks/turn_latency.py --turns 30 --screen-probe poll

Not a test: it prints p50/p95/max per phase and a PASS/FAIL line per target, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _common  # noqa: F401  (sys.path set-up)
from _common import banner, percentile, verdict
from delivery_stress import start_agent

from coder_tui.core.agents.agent import Agent
from coder_tui.core.agents.events import AgentEvent, TurnEnded

WARMUP = 3
TURN_TIMEOUT = 30.0
HOOK_TARGET_MS = 300.0
SCREEN_TARGET_MS = 2000.0


@dataclass
class Turn:
    reply: str
    screen_at: float | None = None  # reply row complete on the emulator screen
    hook_at: float | None = None  # Stop record's ts (hook mode)
    event_at: float | None = None  # TurnEnded.at
    reply_ok: bool = False
    source: str = ""


class ScreenWatch:
    """Notes when a given row first appears on the agent's screen."""

    def __init__(self, agent: Agent, probe: str) -> None:
        self.agent = agent
        self.probe = probe
        self.row: str | None = None
        self.seen_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        if probe == "listener":
            agent.session.on_output(self._check)
        else:
            self._task = asyncio.create_task(self._poll())

    def expect(self, row: str) -> None:
        self.row, self.seen_at = row, None

    def _check(self) -> None:
        if self.row is None or self.seen_at is not None:
            return
        if self.row in self.agent.session.screen.text().split("\n"):
            self.seen_at = time.time()

    async def _poll(self) -> None:
        while True:
            self._check()
            await asyncio.sleep(0.001)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def stop_records(events_file: Path) -> dict[str, float]:
    """Stop-hook write times by reply text, from the agent's events file."""
    stamps: dict[str, float] = {}
    for line in events_file.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("event") == "Stop":
            reply = str((record.get("payload") or {}).get("last_assistant_message", ""))
            stamps.setdefault(reply, float(record["ts"]))
    return stamps


async def run_phase(
    *,
    hooks: bool,
    turns: int,
    root: Path,
    quiescence: float | None,
    probe: str,
    cols: int,
    rows: int,
) -> tuple[list[Turn], float]:
    agent, events = await start_agent(
        root, hooks=hooks, cols=cols, rows=rows, quiescence=quiescence, reply_delay=0.05,
        chunk_delay=0.002,
    )  # fmt: skip
    watch = ScreenWatch(agent, probe)
    results: list[Turn] = []
    try:
        for index in range(turns + WARMUP):
            prompt = f"turn {index:03d} " + "x" * 40
            reply = f"echo: {prompt}"
            turn = Turn(reply)
            watch.expect(f"⏺ {reply}")
            before = sum(isinstance(e, TurnEnded) for e in events)
            await agent.deliver(prompt)
            ended = await _next_turn(events, before)
            turn.screen_at = watch.seen_at
            if ended is not None:
                turn.event_at = ended.at
                turn.reply_ok = ended.reply == reply
                turn.source = str(ended.source)
            if index >= WARMUP:
                results.append(turn)
            await asyncio.sleep(0.02)  # the idle redraw after the turn, before the next paste
        if hooks:
            stamps = stop_records(agent.spec.events_file)
            for turn in results:
                turn.hook_at = stamps.get(turn.reply)
    finally:
        await watch.close()
        await agent.stop()
    return results, agent.profile.screen.quiescence


async def _next_turn(events: list[AgentEvent], before: int) -> TurnEnded | None:
    deadline = time.monotonic() + TURN_TIMEOUT
    while time.monotonic() < deadline:
        turns = [e for e in events if isinstance(e, TurnEnded)]
        if len(turns) > before:
            return turns[before]
        await asyncio.sleep(0.002)
    return None


def stats(label: str, values_s: Sequence[float]) -> str:
    ms = [v * 1000 for v in values_s]
    if not ms:
        return f"   {label:<28} no samples"
    return (
        f"   {label:<28} p50 {percentile(ms, 50):7.1f} ms  p95 {percentile(ms, 95):7.1f} ms  "
        f"max {max(ms):7.1f} ms  (n={len(ms)})"
    )


def _diffs(turns: Sequence[Turn], start: str, end: str) -> list[float]:
    out = []
    for turn in turns:
        a, b = getattr(turn, start), getattr(turn, end)
        if a is not None and b is not None:
            out.append(b - a)
    return out


def report(label: str, turns: Sequence[Turn], *, hooks: bool, quiescence: float) -> list[str]:
    ok = sum(t.reply_ok for t in turns)
    missing = sum(t.event_at is None for t in turns)
    unseen = sum(t.screen_at is None for t in turns)
    sources = sorted({t.source for t in turns})
    out = [
        f"-- {label}: {len(turns)} turns, replies exact {ok}/{len(turns)}, no TurnEnded "
        f"{missing}, reply row not seen {unseen}, event source {', '.join(sources)}"
    ]
    end_to_end = _diffs(turns, "screen_at", "event_at")
    if hooks:
        out.append(stats("hook written -> TurnEnded", _diffs(turns, "hook_at", "event_at")))
        out.append(stats("screen -> hook written", _diffs(turns, "screen_at", "hook_at")))
        out.append(stats("screen -> TurnEnded", end_to_end))
        target = HOOK_TARGET_MS
    else:
        out.append(stats("screen -> TurnEnded", end_to_end))
        over = [v - quiescence for v in end_to_end]
        out.append(stats(f"  minus quiescence {quiescence:.1f}s", over))
        target = SCREEN_TARGET_MS
    p95 = percentile([v * 1000 for v in end_to_end], 95)
    good = p95 < target and ok == len(turns) and not missing
    out.append(
        f"   {verdict(good)} {label}: screen -> TurnEnded p95 {p95:.0f} ms "
        f"(target < {target:.0f} ms), every reply exact"
    )
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--screen-probe", choices=["listener", "poll"], default="listener")
    parser.add_argument("--cols", type=int, default=200)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument(
        "--phases", default="hooks,screen,screen-0.5", help="comma list of hooks,screen,screen-0.5"
    )
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="turn-latency-"))
    phases = {
        "hooks": ("hook mode", True, None),
        "screen": ("screen-only, profile quiescence", False, None),
        "screen-0.5": ("screen-only, quiescence 0.5 s", False, 0.5),
    }
    verdicts = []
    try:
        for key in args.phases.split(","):
            label, hooks, quiescence = phases[key]
            turns, used = await run_phase(
                hooks=hooks, turns=args.turns, root=tmp / key, quiescence=quiescence,
                probe=args.screen_probe, cols=args.cols, rows=args.rows,
            )  # fmt: skip
            lines = report(label, turns, hooks=hooks, quiescence=used)
            for line in lines:
                print(line, flush=True)
            verdicts.append(lines[-1].strip())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    for line in verdicts:
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    banner("turn-end latency: turn over -> TurnEnded event, fake agent")
    print(f"screen probe: {args.screen_probe}, pane {args.cols}x{args.rows}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
