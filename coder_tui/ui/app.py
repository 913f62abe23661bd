"""The coder-tui application: a grid of terminal panes, agents' status, and the channel.

Keys are split in two worlds. Inside a focused pane every key belongs to the child, except the
one key that leaves the pane (``ctrl+]``, which no agent CLI uses) and ``ctrl+q``. The
channel's input line (``c``) is typed into the same way; escape or ``ctrl+]`` leave it. Outside a
pane ("navigation"), plain keys move the selection, maximise, enter a pane, answer an agent's
approval prompt, change its approval policy, restart it, or quit. Those are the default keys:
every binding comes from ``coder_tui.ui.bindings`` with an id, and the user's keymap
(config.yaml) moves any of them.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.color import Color
from textual.containers import Grid
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from coder_tui import paths
from coder_tui.core.agents.agent import Agent
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentStatus,
    AgentWarning,
    ApprovalPolicy,
)
from coder_tui.core.channel import Channel, ChannelMessage
from coder_tui.core.host import (
    AgentReplaced,
    HostError,
    HostEvent,
    HostNotice,
    RunHost,
    RunStarted,
    RunUpdated,
)
from coder_tui.core.session import TerminalSession
from coder_tui.core.templates import load_templates
from coder_tui.core.yamlfile import ConfigError
from coder_tui.ui.bindings import check_keymap, key_label, textual_bindings, textual_keymap
from coder_tui.ui.palette import CoderTuiCommands
from coder_tui.ui.screens.template_picker import PickResult, TemplatePicker
from coder_tui.ui.widgets.agent_status import StatusBar, status_content
from coder_tui.ui.widgets.channel_view import ChannelView, SayInput
from coder_tui.ui.widgets.run_status import RunStatusLine
from coder_tui.ui.widgets.terminal_pane import TerminalPane

if TYPE_CHECKING:  # the type only: front ends reach runs through the host
    from coder_tui.core.operator import Operator

POLICY_CYCLE = [ApprovalPolicy.ASK, ApprovalPolicy.APPROVE_EDITS, ApprovalPolicy.APPROVE_ALL]


def focused_pane(app: App[None]) -> TerminalPane | None:
    """The pane that has the keys, or None. Safe while the app shuts down: an agent event
    that lands after the last screen was popped asks for bindings, and Textual's
    ``App.focused`` would raise ScreenStackError there (seen in CI after a run finished)."""
    if not app.screen_stack:
        return None
    focused = app.focused
    return focused if isinstance(focused, TerminalPane) else None


def channel_input_focused(app: App[None]) -> bool:
    """The channel's input line has the keys (after ``c``): letters are text there, and the
    leave keys take it back to navigation. Safe while the app shuts down, as focused_pane."""
    return bool(app.screen_stack) and isinstance(app.focused, SayInput)


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

    BINDINGS: ClassVar[list[BindingType]] = textual_bindings("panes")

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
            status_bar.show(numbered, selected.name if selected else None, self._approval_hint())
        self.refresh_bindings()

    def _approval_hint(self) -> str:
        """What to press to answer a prompt, in the keys the user has."""
        app = self.app
        keymap = app.keymap if isinstance(app, CoderTuiApp) else {}
        leave, approve, deny = (
            key_label(name, keymap) for name in ("pane.leave", "agent.approve", "agent.deny")
        )
        return f"{leave} then {approve} approve · {deny} deny"

    # --- navigation ----------------------------------------------------------------------------

    @property
    def navigating(self) -> bool:
        """No pane has focus: plain keys are commands."""
        return not isinstance(self.focused, TerminalPane)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a pane has focus its keys belong to the child: hide the navigation keys.
        if not self.navigating and action in _NAV_ACTIONS:
            return False
        # In the channel's input line the letters are text: off the footer, and off. The
        # arrows and tab it does not use still move the selection, as before.
        if action in _TYPED_ACTIONS and isinstance(self.focused, SayInput):
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
            policy = POLICY_CYCLE[(POLICY_CYCLE.index(agent.policy) + 1) % 3]
            app = self.app
            if isinstance(app, CoderTuiApp):
                app.set_policy(agent, policy)
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
            cancel = key_label("run.cancel", app.keymap)
            self.notify(
                f"a workflow is already running: cancel it ({cancel}) first", severity="warning"
            )
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
_TYPED_ACTIONS = _NAV_ACTIONS - {"select"}
_RUN_ACTIONS = {"toggle_pause", "step_once", "answer_gate", "cancel_run"}


class CoderTuiApp(App[None]):
    """Panes for commands and agents, with the agents' status and a channel. The agents, the
    channel and any template run belong to the ``host`` (``coder_tui.core.host``): the app
    renders what it publishes and sends it the user's commands."""

    TITLE = "coder-tui"
    COMMANDS = App.COMMANDS | {CoderTuiCommands}
    BINDINGS: ClassVar[list[BindingType]] = textual_bindings("app")

    def __init__(
        self,
        commands: Sequence[Sequence[str]] = (),
        *,
        host: RunHost | None = None,
        labels: Sequence[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        keymap: Mapping[str, str] | None = None,
    ) -> None:
        """``keymap``: binding id -> key (config.yaml's); an id no binding has, or a key two
        bindings would share, raises KeymapError before anything starts."""
        super().__init__()
        self.keymap = dict(keymap or {})
        check_keymap(self.keymap)
        self.set_keymap(textual_keymap(self.keymap))
        self.host = host
        self.commands = [list(c) for c in commands]
        self.labels = list(labels) if labels else [command_label(c) for c in self.commands]
        self.cwd = Path(cwd) if cwd else Path(host.state.cwd) if host else Path.cwd()
        self.env = env
        self.sessions: list[TerminalSession] = []  # the --cmd panes' (agents' are the host's)
        self.entries: list[PaneEntry] = []
        self._followed: Channel | None = None

    @property
    def agents(self) -> list[Agent]:
        return list(self.host.agents.values()) if self.host else []

    @property
    def channel(self) -> Channel | None:
        return self.host.channel if self.host else None

    @property
    def operator(self) -> Operator | None:
        return self.host.operator if self.host else None

    @property
    def run_in_progress(self) -> bool:
        return self.host is not None and self.host.run_in_progress

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
        host = self.host
        if host is not None:
            for agent in host.agents.values():
                self.entries.append(self._agent_entry(agent))
            for note in host.notes:
                self.notify(note, timeout=10)
            host.subscribe(self._on_host_event)
        templated = host is not None and host.template is not None
        screen = PanesScreen(self.entries, channel=host is not None, focus_first=not templated)
        self.push_screen(screen)
        if host is not None:
            self._follow_channel(host.channel)
            host.start()

    def _follow_channel(self, channel: Channel) -> None:
        """Show what ``channel`` holds (a resumed run's messages) and what is posted to it."""
        if self._followed is channel:
            return
        self._followed = channel
        screen = next(s for s in reversed(self.screen_stack) if isinstance(s, PanesScreen))
        for message in channel.messages:
            screen.show_channel_message(message)
        channel.subscribe(self._forward_channel_message)

    def start_picked(self, result: PickResult | None) -> None:
        """The template picker's answer: run it over this session's agents."""
        if result is None or self.host is None:
            return
        try:
            self.host.start_template(result.template, result.inputs)
        except (HostError, OSError) as exc:
            self.notify(f"cannot start {result.template.name}: {exc}", severity="warning")

    def _forward_channel_message(self, message: ChannelMessage) -> None:
        self.post_message(ChannelPosted(message))

    def _on_host_event(self, event: HostEvent) -> None:
        if isinstance(event, AgentReplaced):
            self._replace_pane(event)
        elif isinstance(event, RunStarted):
            self._follow_channel(event.store.channel)
            self.post_message(RunChanged())
        elif isinstance(event, RunUpdated):
            self.post_message(RunChanged())
        elif isinstance(event, HostNotice):
            severity = "error" if event.severity == "error" else event.severity
            self.notify(event.text, severity=severity, timeout=15)  # type: ignore[arg-type]
        else:
            self.post_message(AgentEventMessage(event))
            if isinstance(event, AgentWarning):
                self.notify(f"{event.agent}: {event.message}", severity="warning", timeout=15)

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
        if self.host is not None:
            await self.host.user_message(message.text)

    # --- run control (keys) ---------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        if self.host is not None:
            self.host.toggle_pause()

    def action_step_once(self) -> None:
        if self.host is not None:
            self.host.step_once()

    def action_answer_gate(self, approved: bool) -> None:
        if self.host is not None and not self.host.answer_gate(approved):
            self.notify("no approval gate is waiting")

    def action_cancel_run(self) -> None:
        if self.host is not None:
            self.host.cancel()

    def set_policy(self, agent: Agent, policy: ApprovalPolicy) -> None:
        if self.host is not None:
            self.host.set_policy(agent.name, policy)

    def _agent_entry(self, agent: Agent) -> PaneEntry:
        label = agent.name
        if agent.name != agent.profile.name:
            label += f" ({agent.profile.name})"
        return PaneEntry(label, agent.session, lambda: self._start_agent(agent), agent)

    def _start_agent(self, agent: Agent) -> None:
        self.run_worker(agent.start(), name=f"start-{agent.name}", exit_on_error=False)

    def on_agent_event_message(self, message: AgentEventMessage) -> None:
        screen = self.screen
        if isinstance(screen, PanesScreen):
            screen.show_agent_event(message.event)

    async def restart_agent(self, index: int) -> None:
        """Stop the agent in pane ``index`` and start it afresh (a new session) in place."""
        entry = self.entries[index]
        if entry.agent is not None and self.host is not None:
            await self.host.restart(entry.agent.name)
            self.notify(f"{entry.agent.name} restarted")

    def _replace_pane(self, event: AgentReplaced) -> None:
        index = next(
            (i for i, e in enumerate(self.entries) if e.agent and e.agent.name == event.name),
            None,
        )
        if index is None:
            return
        new_entry = self._agent_entry(event.agent)
        self.entries[index] = new_entry
        screen = next((s for s in self.screen_stack if isinstance(s, PanesScreen)), None)
        if screen is not None:
            screen.entries[index] = new_entry
            screen.panes[index].replace_session(new_entry.session, new_entry.start)
            screen.refresh_agents()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_pane":
            return focused_pane(self) is not None or channel_input_focused(self)
        if action in _RUN_ACTIONS:
            typing = focused_pane(self) is not None or channel_input_focused(self)
            if self.operator is None or typing:
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
        resumable: the host stops its operator first, so the agents' exits are not failures."""
        await self.close_sessions()
        self.exit()

    async def close_sessions(self) -> None:
        """End the host's session (it records where the run stands), then the plain panes."""
        if self.host is not None:
            await self.host.stop()
        await asyncio.gather(*(s.close() for s in self.sessions), return_exceptions=True)

    async def on_unmount(self) -> None:
        """However the app ends (quit key, an exception, a test driver leaving), no child
        outlives it: agents still running are stopped their polite way, then killed."""
        await self.close_sessions()

    def kill_sessions_now(self) -> None:
        """Last resort after the loop stopped (a crash): no child may outlive the app."""
        for session in [*self.sessions, *(a.session for a in self.agents)]:
            session.close_now()
