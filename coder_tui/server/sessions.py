"""A session on the server: a run host's agents and any plain commands, with their panes.

The server holds many sessions; each is what one ``coder-tui`` window used to be. It turns
what its host publishes into wire messages for the clients attached to it (and for watchers
of every session), and starts each pane's child once a client gave the pane its size (a CLI
draws its first screen for the size it starts with), or after START_WITHOUT_SIZE seconds when
no client does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from coder_tui.core.agents.agent import Agent
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentExited,
    AgentStatus,
    ApprovalRequested,
)
from coder_tui.core.agents.screen import box_inner
from coder_tui.core.channel import Channel, ChannelMessage
from coder_tui.core.host import (
    AgentReplaced,
    HostEvent,
    HostNotice,
    RunHost,
    RunStarted,
    RunUpdated,
)
from coder_tui.core.runs import RunStatus
from coder_tui.core.session import TerminalSession, command_label
from coder_tui.core.tasks import spawn
from coder_tui.server.notify import notify
from coder_tui.server.protocol import (
    AgentChanged,
    AgentView,
    ChannelPost,
    LoopView,
    Message,
    Notice,
    PaneChanged,
    PaneView,
    RunChanged,
    RunView,
    SessionView,
)
from coder_tui.server.screens import PaneFeed, StyleTable

if TYPE_CHECKING:
    from coder_tui.server.connection import ClientConnection

log = logging.getLogger(__name__)

START_WITHOUT_SIZE = 3.0  # seconds a pane waits for a client's size before it starts anyway
ENDED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


@dataclass
class Pane:
    """One pane: a plain command's session, or an agent's."""

    pane_id: int
    label: str
    feed: PaneFeed
    agent_name: str | None = None
    started: bool = False
    sizes: dict[ClientConnection, tuple[int, int]] = field(default_factory=dict)

    @property
    def session(self) -> TerminalSession:
        return self.feed.session


def agent_words(agent: Agent) -> str:
    """The agent's status as a person reads it."""
    if agent.status is AgentStatus.EXITED:
        if agent.exit is not None:
            return agent.exit.description
        return "not started" if agent.session.error else "exited"
    return str(agent.status)


def run_view(host: RunHost) -> RunView:
    state = host.state
    operator = host.operator
    template = host.template
    loops: list[LoopView] = []
    for name, rounds in state.loop_rounds.items():
        loop = next((lp for lp in template.loops if lp.name == name), None) if template else None
        loops.append(LoopView(name, rounds, loop.max_rounds if loop else 0))
    return RunView(
        run_id=host.store.run_id,
        template=state.template,
        title=(template.title if template else state.title),
        status=str(state.status),
        in_progress=host.run_in_progress,
        started=state.started,
        ended=state.ended,
        step=state.current_step,
        step_round=state.step_rounds.get(state.current_step or "", 1) if state.current_step else 0,
        loops=loops,
        hops=state.hops,
        max_hops=template.limits.max_hops if template else 0,
        paused=bool(operator and operator.paused),
        waiting_at_gate=bool(operator and operator.waiting_at_gate),
        outcome=state.outcome or "",
    )


class ServerSession:
    """What one window shows: panes (agents and commands), the channel, the run."""

    def __init__(
        self,
        session_id: str,
        *,
        cwd: Path,
        host: RunHost | None,
        commands: Iterable[TerminalSession],
        styles: StyleTable,
        new_pane_id: Callable[[], int],
        detached: bool = False,
    ) -> None:
        self.session_id = session_id
        self.cwd = cwd
        self.host = host
        self.detached = detached
        self.created = time.time()
        self.clients: set[ClientConnection] = set()
        self.watchers: set[ClientConnection] = set()  # shared with the server: every session's
        self.panes: list[Pane] = []
        self.approvals: dict[str, str] = {}  # agent -> what it asks, while it asks
        self.ended = False
        self.on_end: Callable[[ServerSession, str], None] = lambda session, why: None
        self._last_run_status: str | None = None
        self._gate_was_waiting = False
        self._unfollow: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        for command in commands:
            label = command_label(command.argv)
            self._add_pane(Pane(new_pane_id(), label, PaneFeed(0, command, styles)))
        if host is not None:
            for agent in host.agents.values():
                label = agent.name
                if agent.name != agent.profile.name:
                    label += f" ({agent.profile.name})"
                pane = Pane(new_pane_id(), label, PaneFeed(0, agent.session, styles), agent.name)
                self._add_pane(pane)
            host.subscribe(self._on_host_event)
            self._follow(host.channel)

    def _add_pane(self, pane: Pane) -> None:
        pane.feed.pane_id = pane.pane_id
        self.panes.append(pane)
        self._watch_exit(pane, pane.session)

    def _watch_exit(self, pane: Pane, session: TerminalSession) -> None:
        def exited(_: object) -> None:
            if pane.session is session:
                self.broadcast(PaneChanged(session=self.session_id, view=self.pane_view(pane)))
                self.check_end()

        session.on_exit(exited)

    # --- views -------------------------------------------------------------------------------

    @property
    def title(self) -> str:
        if self.host is not None:
            return self.host.state.title
        return ", ".join(p.label for p in self.panes) or "empty"

    def agent(self, name: str) -> Agent | None:
        return self.host.agents.get(name) if self.host else None

    def pane_of_agent(self, name: str) -> Pane | None:
        return next((p for p in self.panes if p.agent_name == name), None)

    def pane(self, pane_id: int) -> Pane | None:
        return next((p for p in self.panes if p.pane_id == pane_id), None)

    def pane_view(self, pane: Pane) -> PaneView:
        session = pane.session
        why = ""
        if session.ended:
            why = session.error or (session.exit.description if session.exit else "ended")
        return PaneView(
            pane=pane.pane_id,
            label=pane.label,
            command_line=session.command_line,
            agent=pane.agent_name,
            ended=session.ended,
            ended_why=why,
        )

    def agent_view(self, agent: Agent) -> AgentView:
        pane = self.pane_of_agent(agent.name)
        asking = agent.status is AgentStatus.NEEDS_APPROVAL
        return AgentView(
            session=self.session_id,
            name=agent.name,
            profile=agent.profile.name,
            status=str(agent.status),
            words=agent_words(agent),
            policy=str(agent.policy),
            pane=pane.pane_id if pane else -1,
            approval=self.approvals.get(agent.name, "") if asking else "",
        )

    def view(self) -> SessionView:
        host = self.host
        return SessionView(
            session=self.session_id,
            cwd=str(self.cwd),
            title=self.title,
            created=self.created,
            clients=len(self.clients),
            panes=[self.pane_view(p) for p in self.panes],
            agents=[self.agent_view(a) for a in host.agents.values()] if host else [],
            run=run_view(host) if host else None,
        )

    @property
    def alive(self) -> bool:
        """Some child of this session still runs (or has yet to start)."""
        return any(not p.session.ended for p in self.panes)

    # --- clients -----------------------------------------------------------------------------

    def attach(self, client: ClientConnection, sizes: dict[int, tuple[int, int]]) -> None:
        self.clients.add(client)
        for pane in self.panes:
            pane.feed.add_client(client)
            size = sizes.get(pane.pane_id)
            if size is not None:
                self.resize(client, pane.pane_id, *size)

    def detach(self, client: ClientConnection) -> None:
        self.clients.discard(client)
        for pane in self.panes:
            pane.feed.remove_client(client)
            pane.sizes.pop(client, None)

    def channel_history(self) -> list[ChannelMessage]:
        return self.host.channel.messages if self.host else []

    def broadcast(self, message: Message, *, to_watchers: bool = False) -> None:
        if isinstance(message, Notice) and message.kind != "info":
            # Once per event: the desktop and the user's command (clients ring themselves).
            self._spawn(notify(message), f"notify-{message.kind}")
        targets = set(self.clients)
        if to_watchers:
            targets |= self.watchers
        for client in targets:
            client.send(message)

    def resize(self, client: ClientConnection, pane_id: int, cols: int, rows: int) -> None:
        """``client``'s size of a pane; it applies when that client is the active one (its
        size is the pane's until another client types or resizes)."""
        pane = self.pane(pane_id)
        if pane is None:
            return
        pane.sizes[client] = (max(1, cols), max(1, rows))
        self.activate(client, pane)

    def activate(self, client: ClientConnection, pane: Pane) -> None:
        """``client`` typed into or resized ``pane``: the pane takes its size (as tmux)."""
        size = pane.sizes.get(client)
        if size is not None and size != pane.session.screen.size:
            pane.session.resize(*size)
            pane.feed.invalidate()
        if size is not None:
            self.start_pane(pane)

    def start_pane(self, pane: Pane) -> None:
        if pane.started or pane.session.ended:
            return
        pane.started = True
        agent = self.agent(pane.agent_name) if pane.agent_name else None
        if agent is not None:
            if agent.session.pty is None and not agent.exit:
                self._spawn(agent.start(), f"start-{agent.name}")
        elif pane.session.pty is None:
            pane.session.start()

    def start_unsized_later(self) -> None:
        """Panes no client sized in time start at their default size."""

        async def later() -> None:
            await asyncio.sleep(START_WITHOUT_SIZE)
            for pane in self.panes:
                self.start_pane(pane)

        self._spawn(later(), "start-unsized")

    def _spawn(self, coroutine: object, name: str) -> None:
        spawn(coroutine, name=name, keep=self._tasks)  # type: ignore[arg-type]

    # --- what the host says ------------------------------------------------------------------

    def _follow(self, channel: Channel) -> None:
        if self._unfollow is not None:
            self._unfollow()
        self._unfollow = channel.subscribe(self._on_post)

    def _on_post(self, message: ChannelMessage) -> None:
        post = ChannelPost(session=self.session_id, message=message.model_dump(mode="json"))
        self.broadcast(post, to_watchers=True)

    def _on_host_event(self, event: HostEvent) -> None:
        host = self.host
        assert host is not None
        if isinstance(event, AgentReplaced):
            pane = self.pane_of_agent(event.name)
            if pane is not None:
                pane.feed.replace(event.agent.session)
                self._watch_exit(pane, event.agent.session)
                pane.started = False
                view = self.pane_view(pane)
                self.broadcast(PaneChanged(session=self.session_id, view=view, reset=True))
                if pane.sizes or host.options.starts_agents:
                    self.start_pane(pane)
                else:
                    self.start_unsized_later()
            self.broadcast(AgentChanged(view=self.agent_view(event.agent)), to_watchers=True)
        elif isinstance(event, RunStarted):
            self._follow(event.store.channel)
            self._run_changed()
        elif isinstance(event, RunUpdated):
            self._run_changed()
        elif isinstance(event, HostNotice):
            kind = "run-ended" if event.text.startswith("run ") else "info"
            if kind != "run-ended":  # the run's end is told once, by _run_changed
                self.broadcast(
                    Notice(session=self.session_id, text=event.text, severity=event.severity)
                )
        else:
            self._on_agent_event(event)

    def _on_agent_event(self, event: AgentEvent) -> None:
        agent = self.agent(event.agent)
        if agent is None:
            return
        if isinstance(event, ApprovalRequested):
            self.approvals[event.agent] = box_inner(event.detail)
            if agent.status is AgentStatus.NEEDS_APPROVAL:
                self.broadcast(
                    Notice(
                        session=self.session_id,
                        text=f"{event.agent} asks for approval",
                        severity="warning",
                        kind="approval",
                    )
                )
        if isinstance(event, AgentExited) and not self.ended and self.host is not None:
            stopping = self.host.stopping
            if not stopping and event.exit_code not in (0, None):
                self.broadcast(
                    Notice(
                        session=self.session_id,
                        text=f"{event.agent} {event.description}",
                        severity="error",
                        kind="crash",
                    )
                )
        self.broadcast(AgentChanged(view=self.agent_view(agent)), to_watchers=True)

    def agent_changed(self, agent: Agent) -> None:
        """Something of the agent's that is no event of its own changed (its policy)."""
        self.broadcast(AgentChanged(view=self.agent_view(agent)), to_watchers=True)

    def _run_changed(self) -> None:
        host = self.host
        assert host is not None
        view = run_view(host)
        self.broadcast(RunChanged(session=self.session_id, view=view), to_watchers=True)
        if view.waiting_at_gate and not self._gate_was_waiting:
            self.broadcast(
                Notice(
                    session=self.session_id,
                    text=f"{view.title}: a gate waits for you",
                    severity="warning",
                    kind="gate",
                )
            )
        self._gate_was_waiting = view.waiting_at_gate
        if view.status != self._last_run_status and view.template:
            if RunStatus(view.status) in ENDED:
                text = f"{view.title}: run {view.status}"
                if view.outcome:
                    text += f" ({view.outcome})"
                self.broadcast(
                    Notice(session=self.session_id, text=text, kind="run-ended"),
                )
                if self.detached:
                    self._spawn(self.stop("its run ended"), "stop-detached")
            self._last_run_status = view.status

    def check_end(self) -> None:
        if not self.alive and not self.clients and self.host is None:
            self._spawn(self.stop("every command ended"), "end")

    # --- end ---------------------------------------------------------------------------------

    async def stop(self, why: str) -> None:
        """Stop every child; the host records where its run stands (resumable)."""
        if self.ended:
            return
        self.ended = True
        if self.host is not None:
            await self.host.stop()
        await asyncio.gather(
            *(p.session.close() for p in self.panes if p.agent_name is None),
            return_exceptions=True,
        )
        for pane in self.panes:
            pane.feed.close()
        if self._unfollow is not None:
            self._unfollow()
        self.on_end(self, why)
