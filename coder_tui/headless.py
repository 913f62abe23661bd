"""A workflow run without Textual: the same agents in PTYs and the same operator, the channel
printed with rich, a summary at the end, exit code 0 only when the run succeeded.

Used by ``coder-tui run ... --headless`` (CI, scripts) and ``coder-tui resume RUN --headless``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from coder_tui.core.agents.agent import Agent, DeliveryError
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentWarning,
    ApprovalPolicy,
    ApprovalRequested,
)
from coder_tui.core.agents.profile import AgentProfile
from coder_tui.core.agents.team import AgentRequest, create_agent
from coder_tui.core.channel import Channel, ChannelMessage, MessageKind
from coder_tui.core.operator import Operator, assign_roles
from coder_tui.core.runs import AgentRecord, RunState, RunStatus, RunStore
from coder_tui.core.templates import Template

AUTHOR_STYLES = ["cyan", "magenta", "green", "yellow", "blue"]
KIND_STYLES = {
    MessageKind.PROMPT: "dim",
    MessageKind.OPERATOR: "italic",
    MessageKind.SYSTEM: "bold red",
    MessageKind.USER: "bold",
    MessageKind.REPLY: "",
}


@dataclass
class HeadlessOptions:
    gates: str = "fail"  # approve | reject | fail: a headless run cannot ask anybody
    show_prompts: bool = True
    startup_timeout: float = 60.0
    extra_args: dict[str, list[str]] = field(default_factory=dict)


class ChannelPrinter:
    """Prints each channel message once, as it is posted (and, on resume, what came before)."""

    def __init__(self, console: Console, options: HeadlessOptions) -> None:
        self.console = console
        self.options = options
        self.styles: dict[str, str] = {}

    def __call__(self, message: ChannelMessage) -> None:
        if message.kind is MessageKind.PROMPT and not self.options.show_prompts:
            return
        style = self.styles.setdefault(
            message.author, AUTHOR_STYLES[len(self.styles) % len(AUTHOR_STYLES)]
        )
        head = Text(time.strftime("%H:%M:%S ", time.localtime(message.at)), style="dim")
        head.append(message.author, style=f"bold {style}")
        if message.targets:
            head.append(" → " + ", ".join(message.targets), style="dim")
        if message.step:
            head.append(
                f"  [{message.step}" + (f" #{message.round}" if message.round else "") + "]",
                style="dim",
            )
        self.console.print(head)
        self.console.print(
            Text(message.text, style=KIND_STYLES.get(message.kind, "")), soft_wrap=True
        )


async def run_headless(
    template: Template,
    store: RunStore,
    requests: Sequence[AgentRequest],
    profiles: dict[str, AgentProfile],
    *,
    console: Console,
    options: HeadlessOptions,
    resume: bool = False,
) -> int:
    """Start the agents, run (or resume) the template, print the channel; returns the exit code."""
    state = store.state
    printer = ChannelPrinter(console, options)
    if resume:
        console.rule(f"resuming {state.run_id}: what was said before")
        for message in store.channel.messages:
            printer(message)
        console.rule("resumed")
    store.channel.subscribe(printer)
    agents: dict[str, Agent] = {}
    for request in requests:
        record = state.agents.get(request.name)
        agent, notes = create_agent(
            request,
            profiles,
            cwd=Path(state.cwd),
            run_dir=store.run_dir,
            session_id=record.session_id if (resume and record) else None,
            resume=resume and record is not None and bool(record.session_id),
            extra_args=options.extra_args.get(request.name),
        )
        for note in notes:
            console.print(f"[yellow]note:[/] {note}")
        agent.subscribe(_agent_reporter(console, store.channel, agent))
        agents[request.name] = agent

    async def restart(name: str) -> Agent:
        old = agents[name]
        await old.stop()
        request = next(r for r in requests if r.name == name)
        agent, _ = create_agent(request, profiles, cwd=Path(state.cwd), run_dir=store.run_dir)
        agent.subscribe(_agent_reporter(console, store.channel, agent))
        agents[name] = agent
        await agent.start()
        await agent.wait_until_ready(options.startup_timeout)
        store.channel.post("system", f"{name} was restarted", kind=MessageKind.SYSTEM)
        return agent

    operator = Operator(template, store, agents, restart_agent=restart)
    gate_task: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, operator.cancel)
        loop.add_signal_handler(signal.SIGTERM, operator.cancel)
    try:
        await asyncio.gather(*(agent.start() for agent in agents.values()))
        for agent in agents.values():
            try:
                await agent.wait_until_ready(options.startup_timeout)
            except DeliveryError as exc:
                screen = "\n".join(line for line in agent.screen_lines() if line.strip())
                console.print(f"[bold red]{exc}[/]\n{screen[-2000:]}")
                console.print(f"the run is kept: `coder-tui resume {state.run_id}` goes on")
                return 1
            state.agents[agent.name] = AgentRecord(
                profile=agent.profile.name, session_id=agent.session_id, policy=str(agent.policy)
            )
        if not state.roles:
            state.roles = assign_roles(
                template, {name: agent.profile.name for name, agent in agents.items()}
            )
        store.save()
        gate_task = asyncio.create_task(_answer_gates(operator, options, console))
        status = await operator.run()
    finally:
        if gate_task is not None:
            gate_task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        for agent in agents.values():
            if agent.session_id and agent.name in state.agents:
                state.agents[agent.name].session_id = agent.session_id
        store.save()
        await asyncio.gather(*(agent.stop() for agent in agents.values()), return_exceptions=True)
    print_summary(console, store)
    return 0 if status is RunStatus.SUCCEEDED else 1


def _agent_reporter(console: Console, channel: Channel, agent: Agent):  # type: ignore[no-untyped-def]
    """What an agent says that the operator does not post: its warnings go to the run's
    channel (as the TUI posts them), an approval nobody can answer headless to the console."""

    def warn(event: AgentEvent) -> None:
        if isinstance(event, AgentWarning):
            channel.post("system", f"{event.agent}: {event.message}", kind=MessageKind.SYSTEM)
        elif isinstance(event, ApprovalRequested) and agent.policy is ApprovalPolicy.ASK:
            console.print(
                f"[bold red]{agent.name} asks for approval[/] ({event.detail}); a headless run "
                f"cannot answer: start it with --policy {agent.name}=approve-edits (or "
                "approve-all), or run it in the TUI"
            )

    return warn


async def _answer_gates(operator: Operator, options: HeadlessOptions, console: Console) -> None:
    while True:
        await asyncio.sleep(0.1)
        if operator.waiting_at_gate:
            if options.gates == "fail":
                console.print(
                    "[bold red]this template waits for a human approval gate; "
                    "pass --approve-gates or --reject-gates, or run it in the TUI[/]"
                )
                operator.cancel()
                return
            operator.answer_gate(options.gates == "approve")


def print_summary(console: Console, store: RunStore) -> None:
    """Steps, rounds, time per step, turns per agent and verdicts of the run."""
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
    table = Table(title=f"run {state.run_id}: {state.template} — {state.status}")
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
            step_id, str(rounds), f"{total:.1f} s", result.agent if result else "", outputs
        )
    console.print(table)
    turns = {k.split(":", 1)[1]: v for k, v in state.counters.items() if k.startswith("turns:")}
    elapsed = (state.ended or time.time()) - state.started
    loops = ", ".join(f"{name}: {n}" for name, n in state.loop_rounds.items()) or "none"
    console.print(f"time: {elapsed:.1f} s · loop rounds: {loops} · hops: {state.hops}")
    console.print("turns per agent: " + (", ".join(f"{k}={v}" for k, v in turns.items()) or "none"))
    if durations:
        all_steps = [d for ds in durations.values() for d in ds]
        console.print(f"step time median: {statistics.median(all_steps):.1f} s")
    verdicts = [
        f"{sid}: {r.outputs.get('verdict')}"
        for sid, r in state.step_results.items()
        if r.outputs.get("verdict")
    ]
    if verdicts:
        console.print("verdicts: " + "; ".join(verdicts))
    console.print(f"outcome: [bold]{state.status}[/] — {state.outcome or ''}")


def new_state(
    template: Template, inputs: dict[str, str], cwd: Path, requests: Sequence[AgentRequest]
) -> RunState:
    return RunState(
        run_id="",
        template=template.name,
        title=template.title,
        inputs=inputs,
        cwd=str(cwd),
        roles={},
        agents={
            r.name: AgentRecord(profile=r.profile, session_id=None, policy=str(r.policy))
            for r in requests
        },
        status=RunStatus.RUNNING,
        started=time.time(),
        updated=time.time(),
    )
