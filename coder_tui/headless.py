"""A workflow run without Textual: the same agents in PTYs and the same operator, the channel
printed with rich, a summary at the end, exit code 0 only when the run succeeded.

Whatever came from an agent or a file (replies, outputs, names, outcomes, screens) is printed
through ``inert_text``: its control characters shown as escapes, its brackets never read as rich
markup, so a reply can neither drive the user's terminal nor break the summary.

Used by ``coder-tui run ... --headless`` (CI, scripts) and ``coder-tui resume RUN --headless``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from coder_tui.core.agents.events import ApprovalPolicy, ApprovalRequested
from coder_tui.core.channel import ChannelMessage, MessageKind
from coder_tui.core.host import HostEvent, RunHost
from coder_tui.core.runs import RunStatus, RunStore
from coder_tui.core.safe_text import terminal_safe
from coder_tui.core.tasks import spawn

AUTHOR_STYLES = ["cyan", "magenta", "green", "yellow", "blue"]
KIND_STYLES = {
    MessageKind.PROMPT: "dim",
    MessageKind.OPERATOR: "italic",
    MessageKind.SYSTEM: "bold red",
    MessageKind.USER: "bold",
    MessageKind.REPLY: "",
}


def inert_text(text: object, style: str = "") -> Text:
    """``text`` as rich Text that prints exactly as it reads: control characters as visible
    escapes (``terminal_safe``), ``[brackets]`` as brackets, never as markup."""
    return Text(terminal_safe(str(text)), style=style)


@dataclass
class HeadlessOptions:
    gates: str = "fail"  # approve | reject | fail: a headless run cannot ask anybody


class ChannelPrinter:
    """Prints each channel message once, as it is posted (and, on resume, what came before)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.styles: dict[str, str] = {}

    def __call__(self, message: ChannelMessage) -> None:
        style = self.styles.setdefault(
            message.author, AUTHOR_STYLES[len(self.styles) % len(AUTHOR_STYLES)]
        )
        head = Text(time.strftime("%H:%M:%S ", time.localtime(message.at)), style="dim")
        head.append(terminal_safe(message.author), style=f"bold {style}")
        if message.targets:
            head.append(" → " + terminal_safe(", ".join(message.targets)), style="dim")
        if message.step:
            head.append(
                terminal_safe(
                    f"  [{message.step}" + (f" #{message.round}" if message.round else "") + "]"
                ),
                style="dim",
            )
        self.console.print(head)
        self.console.print(
            inert_text(message.text, KIND_STYLES.get(message.kind, "")), soft_wrap=True
        )


async def run_headless(
    host: RunHost, *, console: Console, options: HeadlessOptions, resume: bool = False
) -> int:
    """Run (or resume) the host's template, print the channel; returns the exit code."""
    state = host.state
    printer = ChannelPrinter(console)
    if resume:
        console.rule(inert_text(f"resuming {state.run_id}: what was said before"))
        for message in host.channel.messages:
            printer(message)
        console.rule("resumed")
    host.channel.subscribe(printer)
    for note in host.notes:
        console.print(Text.assemble(("note:", "yellow"), " ", terminal_safe(note)))
    host.subscribe(_approval_reporter(console, host))
    gate_task: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, host.cancel)
        loop.add_signal_handler(signal.SIGTERM, host.cancel)
    status: RunStatus | None = None
    try:
        gate_task = spawn(_answer_gates(host, options, console), name="gates")
        status = await host.run()
    finally:
        if gate_task is not None:
            gate_task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await host.stop()
    if host.start_failure is not None:
        name, _ = host.start_failure
        agent = host.agents.get(name)
        if agent is not None:
            screen = "\n".join(line for line in agent.screen_lines() if line.strip())
            console.print(inert_text(screen[-2000:]))
        console.print(inert_text(f"the run is kept: `coder-tui resume {state.run_id}` goes on"))
        return 1
    print_summary(console, host.store)
    return 0 if status is RunStatus.SUCCEEDED else 1


def _approval_reporter(console: Console, host: RunHost) -> Callable[[HostEvent], None]:
    """An approval nobody can answer headless is said on the console, with what to do."""

    def report(event: HostEvent) -> None:
        if not isinstance(event, ApprovalRequested):
            return
        agent = host.agents.get(event.agent)
        if agent is not None and agent.policy is ApprovalPolicy.ASK:
            name = terminal_safe(agent.name)
            console.print(
                Text.assemble(
                    (f"{name} asks for approval", "bold red"),
                    f" ({terminal_safe(event.detail)}); a headless run cannot answer: start it "
                    f"with --policy {name}=approve-edits (or approve-all), or run it in the TUI",
                )
            )

    return report


async def _answer_gates(host: RunHost, options: HeadlessOptions, console: Console) -> None:
    while True:
        await asyncio.sleep(0.1)
        operator = host.operator
        if operator is not None and operator.waiting_at_gate:
            if options.gates == "fail":
                console.print(
                    "[bold red]this template waits for a human approval gate; "
                    "pass --approve-gates or --reject-gates, or run it in the TUI[/]"
                )
                host.cancel()
                return
            host.answer_gate(options.gates == "approve")


def print_summary(console: Console, store: RunStore) -> None:
    """Steps, rounds, time per step, turns per agent and verdicts of the run. Step outputs and
    verdicts are agent text, step and loop names template text: all printed inert."""
    state = store.state
    events = store.events()
    started: dict[tuple[str, int], float] = {}
    durations: dict[str, list[float]] = {}
    for event in events:
        if event["kind"] == "step_started":
            started[(event["step"], event["round"])] = event["at"]
        elif event["kind"] == "step_done":
            begin = started.get((event["step"], event["round"]))
            if begin is not None:
                durations.setdefault(event["step"], []).append(event["at"] - begin)
    table = Table(title=inert_text(f"run {state.run_id}: {state.template} — {state.status}"))
    table.add_column("step")
    table.add_column("visits", justify="right")
    table.add_column("time (total)", justify="right")
    table.add_column("agent")
    table.add_column("outputs")
    for step_id, rounds in state.step_rounds.items():
        result = state.step_results.get(step_id)
        outputs = ", ".join(f"{k}={v}" for k, v in (result.outputs if result else {}).items() if v)
        total = sum(durations.get(step_id, []))
        table.add_row(
            inert_text(step_id),
            str(rounds),
            f"{total:.1f} s",
            inert_text(result.agent if result and result.agent else ""),
            inert_text(outputs),
        )
    console.print(table)
    turns = {k.split(":", 1)[1]: v for k, v in state.counters.items() if k.startswith("turns:")}
    elapsed = (state.ended or time.time()) - state.started
    loops = ", ".join(f"{name}: {n}" for name, n in state.loop_rounds.items()) or "none"
    console.print(inert_text(f"time: {elapsed:.1f} s · loop rounds: {loops} · hops: {state.hops}"))
    console.print(
        inert_text(
            "turns per agent: " + (", ".join(f"{k}={v}" for k, v in turns.items()) or "none")
        )
    )
    if durations:
        all_steps = [d for ds in durations.values() for d in ds]
        console.print(f"step time median: {statistics.median(all_steps):.1f} s")
    verdicts = [
        f"{sid}: {r.outputs.get('verdict')}"
        for sid, r in state.step_results.items()
        if r.outputs.get("verdict")
    ]
    if verdicts:
        console.print(inert_text("verdicts: " + "; ".join(verdicts)))
    console.print(
        Text.assemble(
            "outcome: ", (str(state.status), "bold"), " — ", terminal_safe(state.outcome or "")
        )
    )
