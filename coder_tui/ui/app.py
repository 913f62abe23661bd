"""The coder-tui application: a grid of terminal panes, agents' status, and the channel.

Keys are split in two worlds. Inside a focused pane every key belongs to the child, except the
one key that leaves the pane (``ctrl+]``, which no agent CLI uses) and ``ctrl+q``. Outside a
pane ("navigation"), plain keys move the selection, maximise, enter a pane, answer an agent's
approval prompt, change its approval policy, restart it, or quit.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Grid
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from coder_tui import paths
from coder_tui.core.agents.agent import Agent, AgentGone, DeliveryError
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentExited,
    AgentStatus,
    AgentWarning,
    ApprovalAnswered,
    ApprovalPolicy,
    ApprovalRequested,
    TurnEnded,
)
from coder_tui.core.agents.profile import AgentProfile
from coder_tui.core.agents.team import AgentRequest, create_agent
from coder_tui.core.channel import Channel, ChannelMessage, MessageKind
from coder_tui.core.operator import Operator, assign_roles
from coder_tui.core.runs import AgentRecord, RunStatus, RunStore
from coder_tui.core.session import TerminalSession
from coder_tui.core.templates import Template, TemplateError, load_templates
from coder_tui.core.yamlfile import ConfigError
from coder_tui.headless import new_state
from coder_tui.ui.commands import CoderTuiCommands
from coder_tui.ui.screens.template_picker import PickResult, TemplatePicker
from coder_tui.ui.widgets.agent_status import StatusBar, status_content
from coder_tui.ui.widgets.channel_view import ChannelView
from coder_tui.ui.widgets.run_status import RunStatusLine
from coder_tui.ui.widgets.terminal_pane import TerminalPane

LEAVE_PANE_KEY = "ctrl+right_square_bracket"
POLICY_CYCLE = [ApprovalPolicy.ASK, ApprovalPolicy.APPROVE_EDITS, ApprovalPolicy.APPROVE_ALL]


def focused_pane(app: App[None]) -> TerminalPane | None:
    """The pane that has the keys, or None. Safe while the app shuts down: an agent event
    that lands after the last screen was popped asks for bindings, and Textual's
    ``App.focused`` would raise ScreenStackError there (seen in CI after a run finished)."""
    if not app.screen_stack:
        return None
    focused = app.focused
    return focused if isinstance(focused, TerminalPane) else None


def command_label(argv: Sequence[str]) -> str:
    """A short pane title: program and arguments with folders dropped (full line: tooltip)."""
    return shlex.join(os.path.basename(arg) if "/" in arg else arg for arg in argv)


@dataclass
class PaneEntry:
    """What one pane shows: a plain command's session, or an agent."""

    label: str
    session: TerminalSession
    start: Callable[[], object]
    agent: Agent | None = None


class AgentEventMessage(Message):
    """An agent-layer event, carried onto Textual's message queue."""

    def __init__(self, event: AgentEvent) -> None:
        super().__init__()
        self.event = event


class ChannelPosted(Message):
    """A message was posted to the channel (already on disk)."""

    def __init__(self, message: ChannelMessage) -> None:
        super().__init__()
        self.message = message


class RunChanged(Message):
    """The workflow run's state changed."""


class PanesScreen(Screen[None]):
    """The main screen: every pane in a grid, the channel, the status bar and the keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,down,tab", "select(1)", "Next pane", show=False),
        Binding("left,up,shift+tab", "select(-1)", "Previous pane", show=False),
        Binding("enter,i", "enter_pane", "Enter pane"),
        Binding("1", "enter_pane(0)", "Go to pane", key_display="1-9"),
        *(Binding(str(n), f"enter_pane({n - 1})", show=False) for n in range(2, 10)),
        Binding("m,z", "toggle_maximize", "Maximise"),
        Binding("a", "approve", "Approve"),
        Binding("A", "approve(True)", "Approve always", show=False),
        Binding("d", "deny", "Deny"),
        Binding("o", "cycle_policy", "Policy"),
        Binding("r", "restart", "Restart"),
        Binding("c", "focus_channel", "Channel"),
        Binding("p", "app.toggle_pause", "Pause/resume"),
        Binding("n", "app.step_once", "One step"),
        Binding("g", "app.answer_gate(True)", "Gate: approve"),
        Binding("G", "app.answer_gate(False)", "Gate: reject"),
        Binding("x", "app.cancel_run", "Cancel run"),
        Binding("t", "pick_template", "Templates"),
        Binding("q", "quit_app", "Quit"),
    ]

    # Closing a popup (picker, palette) returns to where the user was: in navigation, nothing
    # gets focus (Textual would otherwise put it into the first pane).
    AUTO_FOCUS = ""

    DEFAULT_CSS = """
    PanesScreen { layout: vertical; }
    #panes { height: 1fr; grid-gutter: 0; }
    """

    def __init__(
        self, entries: Sequence[PaneEntry], *, channel: bool, focus_first: bool = True
    ) -> None:
        super().__init__()
        self.entries = list(entries)
        self.with_channel = channel
        self.focus_first = focus_first  # a workflow starts in navigation: its keys work at once
        self.selected = 0
        self._early_messages: list[ChannelMessage] = []  # posted before the widgets mounted

    def compose(self) -> ComposeResult:
        cells = len(self.entries) + (1 if self.with_channel else 0)
        columns = max(1, math.ceil(math.sqrt(cells)))
        rows = max(1, math.ceil(cells / columns))
        with Grid(id="panes") as grid:
            grid.styles.grid_size_columns = columns
            grid.styles.grid_size_rows = rows
            for index, entry in enumerate(self.entries):
                pane = TerminalPane(
                    entry.session,
                    start=entry.start,
                    label=f"{index + 1} {entry.label}",
                    id=f"pane-{index}",
                )
                pane.tooltip = entry.session.command_line
                yield pane
            if self.with_channel:
                names = [e.agent.name for e in self.entries if e.agent is not None]
                yield ChannelView(names, id="channel")
        if self.with_channel:
            yield RunStatusLine(id="run-status")
            yield StatusBar(id="status")
        yield Footer()

    @property
    def panes(self) -> list[TerminalPane]:
        return list(self.query(TerminalPane))

    @property
    def agents(self) -> list[Agent]:
        return [e.agent for e in self.entries if e.agent is not None]

    def selected_agent(self) -> Agent | None:
        if 0 <= self.selected < len(self.entries):
            return self.entries[self.selected].agent
        return None

    def on_mount(self) -> None:
        if self.panes and self.focus_first:
            self.panes[0].focus()
        else:
            self._mark_selected()
        channel = self._channel()
        for message in self._early_messages:
            if channel is not None:
                channel.show(message)
        self._early_messages.clear()
        self.refresh_agents()

    def on_descendant_focus(self) -> None:
        focused = self.focused
        if isinstance(focused, TerminalPane):
            self.selected = self.panes.index(focused)
            self._mark_selected()
        self.refresh_bindings()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def _mark_selected(self) -> None:
        for index, pane in enumerate(self.panes):
            pane.set_class(index == self.selected, "-selected")
        self.refresh_agents()

    # --- agents ------------------------------------------------------------------------------

    def show_agent_event(self, event: AgentEvent) -> None:
        if not self.is_mounted:
            return  # agents start while the screen composes; on_mount refreshes everything
        self.refresh_agents()

    def show_channel_message(self, message: ChannelMessage) -> None:
        channel = self._channel()
        if channel is None or not self.is_mounted:
            self._early_messages.append(message)
            return
        channel.show(message)

    def _channel(self) -> ChannelView | None:
        """The channel, unless it is not mounted (yet, or any more while the app closes)."""
        return next(iter(self.query(ChannelView)), None)

    def refresh_agents(self) -> None:
        """Pane borders and the status bar follow every agent's status."""
        if not self.is_mounted:
            return
        for pane, entry in zip(self.panes, self.entries, strict=False):
            if entry.agent is not None:
                pane.border_subtitle = status_content(entry.agent)
                pane.set_class(entry.agent.status is AgentStatus.NEEDS_APPROVAL, "-asking")
        status_bar = next(iter(self.query(StatusBar)), None)
        if status_bar is not None:
            selected = self.selected_agent()
            numbered = [(i + 1, e.agent) for i, e in enumerate(self.entries) if e.agent is not None]
            status_bar.show(numbered, selected.name if selected else None)
        self.refresh_bindings()

    # --- navigation ----------------------------------------------------------------------------

    @property
    def navigating(self) -> bool:
        """No pane has focus: plain keys are commands."""
        return not isinstance(self.focused, TerminalPane)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a pane has focus its keys belong to the child: hide the navigation keys.
        if not self.navigating and action in _NAV_ACTIONS:
            return False
        agent = self.selected_agent()
        if action == "focus_channel":
            return self.with_channel
        if action in {"approve", "deny"}:
            return agent is not None and agent.status is AgentStatus.NEEDS_APPROVAL
        if action in {"cycle_policy", "restart"}:
            return agent is not None
        return True

    def action_select(self, step: int) -> None:
        panes = self.panes
        if panes:
            self.selected = (self.selected + step) % len(panes)
            self._mark_selected()
            if self.maximized is not None:
                self.maximize(panes[self.selected])

    def action_enter_pane(self, index: int | None = None) -> None:
        panes = self.panes
        if index is not None and 0 <= index < len(panes):
            self.selected = index
        if panes:
            panes[self.selected].focus()

    def action_leave_pane(self) -> None:
        self.set_focus(None)
        self._mark_selected()

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif self.panes:
            self.maximize(self.panes[self.selected])

    def action_approve(self, always: bool = False) -> None:
        agent = self.selected_agent()
        if agent is not None and agent.status is AgentStatus.NEEDS_APPROVAL:
            agent.approve(always=always)

    def action_deny(self) -> None:
        agent = self.selected_agent()
        if agent is not None and agent.status is AgentStatus.NEEDS_APPROVAL:
            agent.deny()

    def action_cycle_policy(self) -> None:
        agent = self.selected_agent()
        if agent is not None:
            agent.policy = POLICY_CYCLE[(POLICY_CYCLE.index(agent.policy) + 1) % 3]
            self.notify(f"{agent.name}: approval policy {agent.policy}")
            self.refresh_agents()

    def action_focus_channel(self) -> None:
        channel = self._channel()
        if channel is not None:
            channel.focus_input()

    async def action_quit_app(self) -> None:
        await self.app.action_quit()

    async def action_restart(self) -> None:
        app = self.app
        if isinstance(app, CoderTuiApp):
            await app.restart_agent(self.selected)

    def action_pick_template(self, name: str = "") -> None:
        """Choose a template and its inputs; the app runs it over the launched agents."""
        app = self.app
        if not isinstance(app, CoderTuiApp):
            return
        if app.run_in_progress:
            self.notify("a workflow is already running: cancel it (x) first", severity="warning")
            return
        try:
            templates = load_templates(paths.project_dir(app.cwd))
        except ConfigError as exc:
            self.notify(f"broken template file:\n{exc}", severity="error", timeout=15)
            return
        agents = {agent.name: agent.profile.name for agent in app.agents}
        picker = TemplatePicker(templates, agents, selected=name or None)
        app.push_screen(picker, app.start_picked)


_NAV_ACTIONS = {
    "select",
    "enter_pane",
    "toggle_maximize",
    "approve",
    "deny",
    "cycle_policy",
    "restart",
    "quit_app",
    "focus_channel",
    "pick_template",
}
_RUN_ACTIONS = {"toggle_pause", "step_once", "answer_gate", "cancel_run"}


LEAVE_TIMEOUT = 5.0  # seconds the operator gets, at quit, to record the run as paused


class CoderTuiApp(App[None]):
    """Panes for commands and agents, with the agents' status and a channel."""

    TITLE = "coder-tui"
    COMMANDS = App.COMMANDS | {CoderTuiCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(LEAVE_PANE_KEY, "leave_pane", "Leave pane", key_display="^]", priority=True),
        Binding("ctrl+q", "quit", "Quit", key_display="^q", priority=True, show=False),
    ]

    def __init__(
        self,
        commands: Sequence[Sequence[str]] = (),
        *,
        agents: Sequence[AgentRequest] = (),
        profiles: dict[str, AgentProfile] | None = None,
        run_dir: Path | None = None,
        labels: Sequence[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        workflow: tuple[Template, RunStore, bool] | None = None,
    ) -> None:
        """``workflow`` = (template, run store, resume?) runs a template over the agents."""
        super().__init__()
        self.workflow = workflow
        self.operator: Operator | None = None
        self._quitting = False  # set by quit: agent exits from here on are the app's doing
        self.commands = [list(c) for c in commands]
        self.labels = list(labels) if labels else [command_label(c) for c in self.commands]
        self.agent_requests = list(agents)
        self.profiles = profiles or {}
        self.run_dir = run_dir
        self.cwd = Path(cwd) if cwd else Path.cwd()
        self.env = env
        self.sessions: list[TerminalSession] = []
        self.agents: list[Agent] = []
        self.entries: list[PaneEntry] = []
        self.launch_notes: list[str] = []
        self.channel: Channel | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _theme_colours(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        theme = self.current_theme
        fg = Color.parse(theme.foreground or "#e0e0e0")
        bg = Color.parse(theme.background or "#000000")
        return (fg.r, fg.g, fg.b), (bg.r, bg.g, bg.b)

    def on_mount(self) -> None:
        # Everything loaded so far lives as long as the app: keep it out of the collector's
        # scans, and collect the young generation less often. Full collections over a large
        # heap stalled the loop for 100-400 ms while panes streamed (benchmarks/README.md).
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        fg, bg = self._theme_colours()
        for label, argv in zip(self.labels, self.commands, strict=True):
            session = TerminalSession(
                argv, cwd=self.cwd, env=self.env, default_fg=fg, default_bg=bg
            )
            self.sessions.append(session)
            self.entries.append(PaneEntry(label, session, session.start))
        if self.workflow is not None:
            self.channel = self.workflow[1].channel
        elif self.agent_requests:
            path = self.run_dir / "channel.jsonl" if self.run_dir else None
            self.channel = Channel(path)
        for request in self.agent_requests:
            self.entries.append(self._agent_entry(request))
        for note in self.launch_notes:
            self.notify(note, timeout=10)
        screen = PanesScreen(
            self.entries, channel=bool(self.agent_requests), focus_first=self.workflow is None
        )
        self.push_screen(screen)
        if self.workflow is not None:
            self.start_workflow(*self.workflow)
        elif self.channel is not None:
            self._follow_channel(self.channel)

    def _follow_channel(self, channel: Channel) -> None:
        """Show what ``channel`` holds (a resumed run's messages) and what is posted to it."""
        self.channel = channel
        screen = next(s for s in reversed(self.screen_stack) if isinstance(s, PanesScreen))
        for message in channel.messages:
            screen.show_channel_message(message)
        channel.subscribe(self._forward_channel_message)

    def start_workflow(self, template: Template, store: RunStore, resume: bool = False) -> None:
        """Run ``template`` over the launched agents, recorded in ``store``."""
        self.workflow = (template, store, resume)
        self._follow_channel(store.channel)
        self._spawn(self._run_workflow())

    @property
    def run_in_progress(self) -> bool:
        operator = self.operator
        return operator is not None and operator.state.status in (
            RunStatus.RUNNING,
            RunStatus.PAUSED,
        )

    def start_picked(self, result: PickResult | None) -> None:
        """The template picker's answer: start a new run of it (a new run folder)."""
        if result is None:
            return
        if self.run_in_progress:
            self.notify("a workflow is already running", severity="warning")
            return
        requests = [AgentRequest(a.name, a.profile.name, a.policy) for a in self.agents]
        state = new_state(result.template, result.inputs, self.cwd, requests)
        try:
            store = RunStore.create(paths.runs_dir(), state)
        except OSError as exc:
            self.notify(f"cannot create the run folder: {exc}", severity="error")
            return
        self.start_workflow(result.template, store)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_workflow(self) -> None:
        """Wait for the agents, fill the roles, run the template; the screen follows along."""
        assert self.workflow is not None and self.channel is not None
        template, store, _ = self.workflow
        state = store.state
        try:
            for agent in list(self.agents):
                await agent.wait_until_ready()
                state.agents[agent.name] = AgentRecord(
                    profile=agent.profile.name,
                    session_id=agent.session_id,
                    policy=str(agent.policy),
                )
            if not state.roles:
                state.roles = assign_roles(template, {a.name: a.profile.name for a in self.agents})
            store.save()
        except (DeliveryError, AgentGone, TimeoutError, TemplateError) as exc:
            self.channel.post("system", f"cannot start the run: {exc}", kind=MessageKind.SYSTEM)
            return
        agents = {agent.name: agent for agent in self.agents}
        self.operator = Operator(template, store, agents, restart_agent=self._restart_by_name)
        self.operator.subscribe(self._forward_run_change)
        self.post_message(RunChanged())
        status = await self.operator.run()
        self.notify(f"run {status}: {state.outcome or ''}", timeout=15)

    def _forward_channel_message(self, message: ChannelMessage) -> None:
        self.post_message(ChannelPosted(message))

    def _forward_run_change(self) -> None:
        self.post_message(RunChanged())

    async def _restart_by_name(self, name: str) -> Agent:
        index = next(i for i, e in enumerate(self.entries) if e.agent and e.agent.name == name)
        await self.restart_agent(index)
        agent = self.entries[index].agent
        assert agent is not None
        await agent.wait_until_ready()
        return agent

    def on_channel_posted(self, message: ChannelPosted) -> None:
        screen = self.screen
        if isinstance(screen, PanesScreen):
            screen.show_channel_message(message.message)

    def on_run_changed(self, message: RunChanged) -> None:
        screen = self.screen
        if isinstance(screen, PanesScreen) and self.operator is not None:
            for line in screen.query(RunStatusLine):
                line.show(self.operator)
            screen.refresh_bindings()

    async def on_channel_view_said(self, message: ChannelView.Said) -> None:
        """The user said something in the channel."""
        if self.operator is not None:
            await self.operator.user_message(message.text)
            return
        if self.channel is None:
            return
        by_name = {agent.name: agent for agent in self.agents}
        targets = Channel.mentions(message.text, by_name)
        self.channel.post("user", message.text, kind=MessageKind.USER, targets=targets)
        if not targets:
            self.notify("no workflow runs: @mention an agent to talk to it")
        for name in targets:
            self._spawn(self._deliver_direct(by_name[name], message.text))

    async def _deliver_direct(self, agent: Agent, text: str) -> None:
        try:
            await agent.deliver(text)
        except DeliveryError as exc:
            if self.channel is not None:
                self.channel.post("system", f"{agent.name}: {exc}", kind=MessageKind.SYSTEM)

    # --- run control (keys) ---------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        if self.operator is None:
            return
        if self.operator.paused:
            self.operator.resume()
        else:
            self.operator.pause()

    def action_step_once(self) -> None:
        if self.operator is not None:
            self.operator.step_once()

    def action_answer_gate(self, approved: bool) -> None:
        if self.operator is not None and not self.operator.answer_gate(approved):
            self.notify("no approval gate is waiting")

    def action_cancel_run(self) -> None:
        if self.operator is not None:
            self.operator.cancel()

    def _agent_entry(self, request: AgentRequest) -> PaneEntry:
        if self.run_dir is None:
            raise RuntimeError("agents need a run folder")
        session_id, resume = None, False
        if self.workflow is not None and self.workflow[2]:
            record = self.workflow[1].state.agents.get(request.name)
            session_id = record.session_id if record else None
            resume = session_id is not None
        agent, notes = create_agent(
            request,
            self.profiles,
            cwd=self.cwd,
            run_dir=self.run_dir,
            session_id=session_id,
            resume=resume,
        )
        self.launch_notes += notes
        self.agents.append(agent)
        self.sessions.append(agent.session)
        agent.subscribe(self._forward_agent_event)
        label = request.name
        if request.name != request.profile:
            label += f" ({request.profile})"
        return PaneEntry(label, agent.session, lambda: asyncio.create_task(agent.start()), agent)

    def _forward_agent_event(self, event: AgentEvent) -> None:
        self.post_message(AgentEventMessage(event))
        if isinstance(event, AgentWarning):
            self.notify(f"{event.agent}: {event.message}", severity="warning", timeout=15)
        channel = self.channel
        if channel is None:
            return
        if isinstance(event, AgentWarning):
            channel.post("system", f"{event.agent}: {event.message}", kind=MessageKind.SYSTEM)
        # In a workflow the operator posts prompts and replies; here only what it does not.
        if isinstance(event, TurnEnded) and self.workflow is None:
            channel.post(event.agent, event.reply, kind=MessageKind.REPLY)
        elif isinstance(event, ApprovalRequested):
            channel.post(
                "system",
                f"{event.agent} asks for approval: {event.detail}",
                kind=MessageKind.SYSTEM,
            )
        elif isinstance(event, ApprovalAnswered):
            verdict = "approved" if event.approved else "denied"
            channel.post(
                "system", f"{event.agent}: {verdict} by {event.by}", kind=MessageKind.SYSTEM
            )
        elif isinstance(event, AgentExited) and not self._quitting:
            # (Exits caused by quitting the app are not news for the run's channel.)
            channel.post("system", f"{event.agent} {event.description}", kind=MessageKind.SYSTEM)

    def on_agent_event_message(self, message: AgentEventMessage) -> None:
        screen = self.screen
        if isinstance(screen, PanesScreen):
            screen.show_agent_event(message.event)

    async def restart_agent(self, index: int) -> None:
        """Stop the agent in pane ``index`` and start it afresh (a new session) in place."""
        entry = self.entries[index]
        if entry.agent is None:
            return
        old = entry.agent
        await old.stop()
        request = next(r for r in self.agent_requests if r.name == old.name)
        new_entry = self._agent_entry(request)
        assert new_entry.agent is not None
        new_entry.agent.policy = old.policy
        self.agents.remove(old)
        self.entries[index] = new_entry
        screen = self.screen
        if isinstance(screen, PanesScreen):
            screen.entries[index] = new_entry
            screen.panes[index].replace_session(new_entry.session, new_entry.start)
            screen.refresh_agents()
        self.notify(f"{old.name} restarted")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_pane":
            return focused_pane(self) is not None
        if action in _RUN_ACTIONS:
            if self.operator is None or focused_pane(self) is not None:
                return False
            if action == "answer_gate":
                return self.operator.waiting_at_gate
            if action == "step_once":
                return self.operator.paused
        return True

    def action_leave_pane(self) -> None:
        screen = self.screen
        if isinstance(screen, PanesScreen):
            screen.action_leave_pane()

    async def action_quit(self) -> None:
        """Quit only after every child's process group is gone. A run in progress is left
        resumable: its operator stops first, so the agents' exits are not taken for failures."""
        await self._leave()
        self.exit()

    async def _leave(self) -> None:
        """Stop the run's operator (it records the run as paused once the step in flight
        sees its agent gone), then every child, then wait briefly for the operator to save."""
        self._quitting = True
        if self.operator is not None and self.run_in_progress:
            self.operator.leave()
        await self.close_sessions()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=LEAVE_TIMEOUT)

    async def close_sessions(self) -> None:
        stops = [agent.stop() for agent in self.agents]
        closes = [s.close() for s in self.sessions if not any(a.session is s for a in self.agents)]
        await asyncio.gather(*stops, *closes, return_exceptions=True)

    async def on_unmount(self) -> None:
        """However the app ends (quit key, an exception, a test driver leaving), no child
        outlives it: agents still running are stopped their polite way, then killed."""
        await self._leave()

    def kill_sessions_now(self) -> None:
        """Last resort after the loop stopped (a crash): no child may outlive the app."""
        for session in self.sessions:
            session.close_now()
