"""The run host: one session of agents, owned in one place whatever front end shows it.

A session is always a run (a run folder with ``run.json``), also one started with agents and no
template: ``coder-tui runs`` lists it and ``coder-tui resume`` relaunches its agents on their
own CLI sessions. The host creates the agents, keeps their records (profile, session id, policy,
skipped approvals) up to date in ``run.json``, fills the template's roles, drives the operator,
restarts and stops agents, and turns what agents do (approvals, answers, exits, warnings,
replies outside a template) into channel posts. So a run leaves the same ``channel.jsonl``
whether the TUI or headless showed it. Front ends render what the host publishes (``subscribe``,
the channel) and send it commands; they never build agents or operators themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coder_tui.core.agents.agent import Agent, AgentGone, DeliveryError, TurnHandle
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentExited,
    AgentWarning,
    ApprovalAnswered,
    ApprovalPolicy,
    ApprovalRequested,
    TurnEnded,
)
from coder_tui.core.agents.names import check_agent_name
from coder_tui.core.agents.profile import AgentProfile
from coder_tui.core.agents.screen import box_inner
from coder_tui.core.agents.team import AgentRequest, create_agent
from coder_tui.core.channel import Channel, ChannelMessage, MessageKind
from coder_tui.core.operator import Operator
from coder_tui.core.runs import ACTIVE, AgentRecord, EventKind, RunState, RunStatus, RunStore
from coder_tui.core.tasks import spawn
from coder_tui.core.templates import Template, TemplateError, assign_roles

log = logging.getLogger(__name__)

STOP_WAIT = 5.0  # seconds stop() waits for the operator to record where the run stands


class HostError(Exception):
    """A command the host cannot carry out now; the message says why."""


@dataclass(frozen=True)
class HostOptions:
    # None: wait as long as it takes (the TUI, where a user can answer a CLI's own dialog).
    startup_timeout: float | None = 60.0
    # Headless starts the agents itself; the TUI lets each pane start its agent once the pane
    # has a size (a CLI draws its first screen for the size it starts with).
    starts_agents: bool = True
    extra_args: dict[str, list[str]] = field(default_factory=dict)
    # The environment the agents start in, over this process's (the server passes the
    # client's, so an agent runs as if started from the user's shell); None: this process's.
    env: dict[str, str] | None = None

    @classmethod
    def for_tui(cls, **changes: object) -> HostOptions:
        """The TUI's: its panes start the agents, and it waits for them as long as it takes."""
        return replace(cls(startup_timeout=None, starts_agents=False), **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AgentReplaced:
    """``agent`` now runs under ``name`` in place of the one before (a restart)."""

    name: str
    agent: Agent


@dataclass(frozen=True)
class RunUpdated:
    """Where the run stands changed (status, step, pause, gate); read it from the host."""


@dataclass(frozen=True)
class RunStarted:
    """A template run began on this session; its channel is ``host.channel`` from now on
    (a new run folder when the session had run a template before)."""

    store: RunStore


@dataclass(frozen=True)
class HostNotice:
    """Something to tell the user now (a front end shows it as it likes)."""

    text: str
    severity: str = "information"  # information | warning | error


HostEvent = AgentEvent | AgentReplaced | RunUpdated | RunStarted | HostNotice


def new_state(
    template: Template | None,
    inputs: dict[str, str],
    cwd: Path,
    requests: Sequence[AgentRequest],
) -> RunState:
    """The state of a new run: of ``template``, or a session of agents without one."""
    names = ", ".join(r.name for r in requests)
    return RunState(
        run_id="",
        template=template.name if template else "",
        title=template.title if template else f"agents: {names}",
        inputs=inputs,
        cwd=str(cwd),
        agents={
            r.name: AgentRecord(
                profile=r.profile, policy=str(r.policy), skip_approval=r.skip_approval
            )
            for r in requests
        },
        status=RunStatus.RUNNING,
        started=time.time(),
        updated=time.time(),
    )


class RunHost:
    """One session: its agents, roles, channel, run store and operator."""

    def __init__(
        self,
        store: RunStore,
        requests: Sequence[AgentRequest],
        profiles: dict[str, AgentProfile],
        *,
        template: Template | None = None,
        resume: bool = False,
        options: HostOptions | None = None,
    ) -> None:
        """``resume`` relaunches each agent on the CLI session its record names."""
        self.store = store
        self.template = template
        self.profiles = profiles
        self.options = options or HostOptions()
        self.requests = {r.name: r for r in requests}
        self.agents: dict[str, Agent] = {}
        self.notes: list[str] = []  # what the launches told the user (flags added, ...)
        self.operator: Operator | None = None
        self.start_failure: tuple[str, str] | None = None  # (agent, why) when run() could not
        self._listeners: list[Callable[[HostEvent], None]] = []
        self._stopping = False
        self._restarting: set[str] = set()  # agents whose exit is the restart's own doing
        self._cancel_requested = False
        self._run_task: asyncio.Task[RunStatus | None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        for request in requests:
            self.agents[request.name] = self._create_agent(request, resume=resume)

    @classmethod
    def new(
        cls,
        runs_root: Path,
        cwd: Path,
        requests: Sequence[AgentRequest],
        profiles: dict[str, AgentProfile],
        *,
        template: Template | None = None,
        inputs: dict[str, str] | None = None,
        options: HostOptions | None = None,
    ) -> RunHost:
        """A new run folder in ``runs_root`` and the host of its session. A request whose
        name breaks the agent name rule raises AgentNameError before anything is written."""
        for request in requests:
            check_agent_name(request.name)
        store = RunStore.create(runs_root, new_state(template, inputs or {}, cwd, requests))
        return cls(store, requests, profiles, template=template, options=options)

    @classmethod
    def resumed(
        cls,
        store: RunStore,
        profiles: dict[str, AgentProfile],
        template: Template | None,
        *,
        options: HostOptions | None = None,
    ) -> RunHost:
        """The host of a run that stopped (crashed, or left paused): this process claims it,
        and its agents go back to their own CLI sessions. A recorded name that breaks the
        agent name rule (run.json is a file one can edit) raises AgentNameError first."""
        for name in store.state.agents:
            check_agent_name(name)
        requests = [
            AgentRequest(
                name,
                record.profile,
                ApprovalPolicy(record.policy),
                skip_approval=record.skip_approval,
            )
            for name, record in store.state.agents.items()
        ]
        store.claim()
        return cls(store, requests, profiles, template=template, resume=True, options=options)

    # --- what front ends read ------------------------------------------------------------------

    @property
    def state(self) -> RunState:
        return self.store.state

    @property
    def channel(self) -> Channel:
        return self.store.channel

    @property
    def stopping(self) -> bool:
        """stop() was called: the agents' exits from now on are its doing, not crashes."""
        return self._stopping

    @property
    def run_in_progress(self) -> bool:
        """A template run is going on (running or paused) in this session."""
        return self.operator is not None and self.state.status in ACTIVE

    def subscribe(self, listener: Callable[[HostEvent], None]) -> None:
        self._listeners.append(listener)

    def _publish(self, event: HostEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("host listener failed")

    # --- agents -------------------------------------------------------------------------------

    def _create_agent(self, request: AgentRequest, *, resume: bool) -> Agent:
        record = self.state.agents.get(request.name)
        session_id = record.session_id if (resume and record) else None
        home = record.home if record else None
        agent_dir = Path(home) if home else self.store.agent_dir(request.name)
        agent, notes = create_agent(
            request,
            self.profiles,
            cwd=Path(self.state.cwd),
            run_dir=self.store.run_dir,
            agent_dir=agent_dir,
            session_id=session_id,
            resume=resume and bool(session_id),
            extra_args=self.options.extra_args.get(request.name),
            env=self.options.env,
        )
        self.notes += notes
        if record is None:
            self.state.agents[request.name] = AgentRecord(
                profile=request.profile,
                policy=str(request.policy),
                skip_approval=request.skip_approval,
            )
        agent.subscribe(lambda event: self._on_agent_event(agent, event))
        return agent

    async def start_agents(self) -> None:
        """Start every agent that is not running yet (headless; the TUI's panes do it)."""
        await asyncio.gather(
            *(a.start() for a in self.agents.values() if a.session.pty is None and not a.exit)
        )

    def _on_agent_event(self, agent: Agent, event: AgentEvent) -> None:
        if self.agents.get(agent.name) is not agent:
            return  # an agent replaced by a restart: what it still says is not news
        self._record(agent)
        self._post_for(event)
        self._publish(event)

    def _record(self, agent: Agent) -> None:
        """Keep the agent's record true: a CLI may report its session id only with its
        first prompt (Codex), long after the run started."""
        record = self.state.agents.get(agent.name)
        if record is None:
            return
        policy = str(agent.policy)
        new_id = agent.session_id is not None and record.session_id != agent.session_id
        if new_id or record.policy != policy:
            record.session_id = agent.session_id or record.session_id
            record.policy = policy
            self.store.save()

    def _post_for(self, event: AgentEvent) -> None:
        """What agents do, as the channel records it: the same for every front end."""
        channel = self.channel
        if isinstance(event, AgentWarning):
            channel.post("system", f"{event.agent}: {event.message}", kind=MessageKind.SYSTEM)
        elif isinstance(event, TurnEnded) and not self.run_in_progress:
            # In a template run the operator posts replies; outside one, every turn's is kept.
            channel.post(event.agent, event.reply, kind=MessageKind.REPLY)
        elif isinstance(event, ApprovalRequested):
            text = f"{event.agent} asks for approval: {box_inner(event.detail)}"
            channel.post("system", text, kind=MessageKind.SYSTEM, meta={"approval": "asked"})
        elif isinstance(event, ApprovalAnswered):
            verdict = "approved" if event.approved else "denied"
            channel.post(
                "system",
                f"{event.agent}: {verdict} by {event.by}",
                kind=MessageKind.SYSTEM,
                meta={"approval": verdict, "by": event.by},
            )
        elif isinstance(event, AgentExited) and not (
            self._stopping or event.agent in self._restarting
        ):
            # (Exits caused by stopping the session are not news for the run's channel.)
            channel.post("system", f"{event.agent} {event.description}", kind=MessageKind.SYSTEM)
            self.store.event(
                EventKind.AGENT_EXITED,
                agent=event.agent,
                code=event.exit_code,
                description=event.description,
            )

    def set_policy(self, name: str, policy: ApprovalPolicy) -> None:
        agent = self.agents[name]
        agent.policy = policy
        self._record(agent)

    async def restart(self, name: str) -> Agent:
        """Stop agent ``name`` and start it afresh (a new CLI session) in its place."""
        old = self.agents[name]
        self._restarting.add(name)
        try:
            await old.stop()
        finally:
            self._restarting.discard(name)
        request = replace(self.requests[name], policy=old.policy)
        record = self.state.agents.get(name)
        if record is not None:
            record.session_id = None  # a fresh session; its id comes with its events
        agent = self._create_agent(request, resume=False)
        self.agents[name] = agent
        self._publish(AgentReplaced(name, agent))
        if self.options.starts_agents:
            await agent.start()
        self.store.save()
        self.channel.post("system", f"{name} was restarted", kind=MessageKind.SYSTEM)
        return agent

    # --- the run ------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the session in the background (a front end that does not await ``run``); stop()
        waits for it to record where the run stands."""
        if self._run_task is None or self._run_task.done():
            self._run_task = spawn(self.run(), name="run", on_error=self._failed)

    async def run(self) -> RunStatus | None:
        """Wait until every agent is ready, fill the roles and run the template; returns the
        run's status, or None when there is no template (a session) or it could not start
        (``start_failure`` says why, the channel too)."""
        if self.options.starts_agents:
            await self.start_agents()
        for agent in list(self.agents.values()):
            try:
                await agent.wait_until_ready(self.options.startup_timeout)
            except (DeliveryError, AgentGone, TimeoutError) as exc:
                self._cannot_start(agent.name, str(exc) or "not ready in time")
                return None
            self._record(agent)
        self.store.save()
        template = self.template
        if self._cancel_requested:
            self.state.status = RunStatus.CANCELLED
            self.state.outcome = "cancelled before it started"
            self.state.ended = time.time()
            self.store.save()
            return RunStatus.CANCELLED
        if template is None:
            self.state.status = RunStatus.RUNNING  # a resumed session is live again
            self.store.save()
            return None
        if not self.state.roles:
            try:
                self.state.roles = assign_roles(
                    template, {name: a.profile.name for name, a in self.agents.items()}
                )
            except TemplateError as exc:
                self._cannot_start("", str(exc))
                return None
            self.store.save()
        self.operator = Operator(template, self.store, self.agents, restart_agent=self.restart)
        self.operator.subscribe(lambda: self._publish(RunUpdated()))
        self._publish(RunUpdated())
        status = await self.operator.run()
        self._publish(HostNotice(f"run {status}: {self.state.outcome or ''}"))
        return status

    def _cannot_start(self, agent: str, why: str) -> None:
        self.start_failure = (agent, why)
        self.channel.post("system", f"cannot start the run: {why}", kind=MessageKind.SYSTEM)
        self._publish(HostNotice(f"cannot start the run: {why}", "error"))

    def start_template(self, template: Template, inputs: dict[str, str]) -> None:
        """Run ``template`` over this session's agents (the template picker). The session's
        run takes it when it has had none; after a template run it goes into a new run folder
        whose agent records point at the agents' folders here, so resume finds them."""
        if self.run_in_progress:
            raise HostError("a workflow is already running")
        if self.template is None and not self.state.template:
            state = self.state
            state.template, state.title, state.inputs = template.name, template.title, inputs
            state.roles = {}
        else:
            previous = self.store
            state = new_state(template, inputs, Path(previous.state.cwd), [])
            for name, record in previous.state.agents.items():
                home = record.home or str(previous.agent_dir(name))
                state.agents[name] = record.model_copy(update={"home": home})
            self.store = RunStore.create(previous.run_dir.parent, state)
            if previous.state.status in ACTIVE:  # its template never got going
                previous.state.status = RunStatus.CANCELLED
                previous.state.outcome = f"replaced by run {self.store.run_id}"
                previous.state.ended = time.time()
            previous.save()
        self.template = template
        self.operator = None
        self.store.save()
        self._publish(RunStarted(self.store))
        self.start()

    # --- commands -----------------------------------------------------------------------------

    async def user_message(self, text: str) -> ChannelMessage:
        """What the user typed in the channel. In a template run the operator takes it (an
        @mention goes to that agent, anything else is guidance for the next prompt); outside
        one an @mention is delivered, and the reply is posted when the turn ends."""
        if self.operator is not None and self.run_in_progress:
            return await self.operator.user_message(text)
        targets = Channel.mentions(text, self.agents)
        message = self.channel.post("user", text, kind=MessageKind.USER, targets=targets)
        if not targets:
            self._publish(HostNotice("no workflow runs: @mention an agent to talk to it"))
        for name in targets:
            self._spawn(self._deliver_direct(self.agents[name], text))
        return message

    def send_to(self, name: str, text: str) -> asyncio.Future[TurnHandle]:
        """``text`` for agent ``name`` alone (``coder-tui send``): posted to the channel as the
        user's, for that agent, and delivered as an @mention would be. The future gets the
        turn once the CLI took the prompt (DeliveryError if it could not); the reply is
        posted to the channel when the turn ends, whoever waits for it or not."""
        if name not in self.agents:
            raise HostError(f"no agent {name!r} (agents: {', '.join(self.agents)})")
        delivered: asyncio.Future[TurnHandle] = asyncio.get_running_loop().create_future()
        if self.operator is not None and self.run_in_progress:
            self._spawn(self._operator_direct(name, text, delivered))
        else:
            self.channel.post("user", text, kind=MessageKind.USER, targets=[name])
            self._spawn(self._deliver_direct(self.agents[name], text, delivered))
        return delivered

    async def _operator_direct(
        self, name: str, text: str, delivered: asyncio.Future[TurnHandle]
    ) -> None:
        assert self.operator is not None
        await self.operator.user_message(text, targets=[name], delivered=delivered)

    async def _deliver_direct(
        self, agent: Agent, text: str, delivered: asyncio.Future[TurnHandle] | None = None
    ) -> None:
        try:
            turn = await agent.deliver(text)
        except (DeliveryError, AgentGone) as exc:
            if delivered is not None and not delivered.done():
                delivered.set_exception(exc)
            self.channel.post("system", f"{agent.name}: {exc}", kind=MessageKind.SYSTEM)
            return
        if delivered is not None and not delivered.done():
            delivered.set_result(turn)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        spawn(coroutine, name="host", keep=self._tasks, on_error=self._failed)

    def _failed(self, error: BaseException) -> None:
        """A bug, not a user's mistake: said in the channel and to the front end."""
        text = f"internal error: {error!r} (see the log; the run is kept)"
        self.channel.post("system", text, kind=MessageKind.SYSTEM)
        self._publish(HostNotice(text, "error"))

    def toggle_pause(self) -> None:
        if self.operator is None:
            return
        if self.operator.paused:
            self.operator.resume()
        else:
            self.operator.pause()

    def step_once(self) -> None:
        if self.operator is not None:
            self.operator.step_once()

    def answer_gate(self, approved: bool) -> bool:
        return self.operator is not None and self.operator.answer_gate(approved)

    def cancel(self) -> None:
        if self.operator is not None:
            self.operator.cancel()
        else:
            self._cancel_requested = True

    async def stop(self) -> None:
        """End the session: the operator records the run as paused if a step is in flight,
        every agent is stopped, and ``run.json`` says where things stand, released (pid 0):
        right after, ``coder-tui runs`` lists a run left mid-way as paused, and ``resume``
        can take it."""
        if self._stopping:
            return
        self._stopping = True
        if self.operator is not None and self.run_in_progress:
            self.operator.leave()
        await asyncio.gather(*(a.stop() for a in self.agents.values()), return_exceptions=True)
        pending = [t for t in (self._run_task, *self._tasks) if t is not None and not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=STOP_WAIT)
        for agent in self.agents.values():
            self._record(agent)
        state = self.state
        if state.status in ACTIVE:
            state.status = RunStatus.PAUSED
            state.outcome = state.outcome or "the session was closed; resume goes on"
            state.pid = 0
        self.store.save()
