"""The coder-tui application: a grid of terminal panes, agents' status, and the channel.

The app is a client of the coder-tui server (coder_tui/server): the server owns the agents,
their screens, the channel and the run; the app attaches to one session, renders what the
server sends (a SessionMirror) and sends it the user's keys and commands. Detaching leaves
everything running; ``coder-tui attach`` shows it again. Without a target the app starts a
server inside its own process for the session it was given (what the tests drive): the same
socket, the same messages, only the server's process differs.

Keys are split in two worlds. Inside a focused pane every key belongs to the child, except the
one key that leaves the pane (``ctrl+]``, which no agent CLI uses) and ``ctrl+q``. The
channel's input line (``c``) is typed into the same way; escape or ``ctrl+]`` leave it. Outside a
pane ("navigation"), plain keys move the selection, maximise, enter a pane, answer an agent's
approval prompt, change its approval policy, restart it, detach, or quit. Those are the default
keys: every binding comes from ``coder_tui.ui.bindings`` with an id, and the user's keymap
(config.yaml) moves any of them.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.color import Color
from textual.containers import Grid
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from coder_tui import paths
from coder_tui.client.connection import ServerConnection, ServerError, open_connection
from coder_tui.client.mirror import PaneMirror, SessionMirror
from coder_tui.core.agents.agent import Agent
from coder_tui.core.agents.events import AgentStatus, ApprovalPolicy
from coder_tui.core.channel import Channel
from coder_tui.core.config import NOTIFY_EVENTS
from coder_tui.core.host import RunHost
from coder_tui.core.safe_text import terminal_safe
from coder_tui.core.session import TerminalSession, command_label
from coder_tui.core.templates import load_templates
from coder_tui.core.yamlfile import ConfigError
from coder_tui.server import protocol as api
from coder_tui.server.daemon import Server
from coder_tui.server.protocol import AgentView, RunView
from coder_tui.server.sessions import ServerSession
from coder_tui.ui.bindings import check_keymap, key_label, textual_bindings, textual_keymap
from coder_tui.ui.palette import CoderTuiCommands
from coder_tui.ui.screens.quit import QuitChoice, QuitScreen
from coder_tui.ui.screens.template_picker import PickResult, TemplatePicker
from coder_tui.ui.widgets.agent_status import StatusBar, status_content
from coder_tui.ui.widgets.channel_view import ChannelView, SayInput
from coder_tui.ui.widgets.run_status import RunStatusLine
from coder_tui.ui.widgets.terminal_pane import TerminalPane

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


@dataclass(frozen=True)
class Target:
    """The session the app shows on the user's server: a new one (``create``) or one that
    runs already (``attach``, a session id)."""

    create: api.CreateSession | None = None
    attach: str | None = None
    resume: api.ResumeRun | None = None


@dataclass
class PaneEntry:
    """What one pane shows: its mirror, and the agent's name when it is an agent's."""

    label: str
    pane: PaneMirror
    agent: str | None = None


class ServerEvent(Message):
    """A session event from the server, carried onto Textual's message queue."""

    def __init__(self, event: api.Message) -> None:
        super().__init__()
        self.event = event


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
        self,
        mirror: SessionMirror,
        entries: Sequence[PaneEntry],
        send: Callable[[api.Message], None],
        *,
        channel: bool,
        focus_first: bool = True,
    ) -> None:
        super().__init__()
        self.mirror = mirror
        self.entries = list(entries)
        self.send = send
        self.with_channel = channel
        self.focus_first = focus_first  # a workflow starts in navigation: its keys work at once
        self.selected = 0
        self._shown = 0  # channel messages shown so far

    def compose(self) -> ComposeResult:
        cells = len(self.entries) + (1 if self.with_channel else 0)
        columns = max(1, math.ceil(math.sqrt(cells)))
        rows = max(1, math.ceil(cells / columns))
        with Grid(id="panes") as grid:
            grid.styles.grid_size_columns = columns
            grid.styles.grid_size_rows = rows
            for index, entry in enumerate(self.entries):
                pane = TerminalPane(
                    entry.pane,
                    self.send,
                    label=f"{index + 1} {entry.label}",
                    id=f"pane-{index}",
                )
                pane.tooltip = entry.pane.view.command_line
                yield pane
            if self.with_channel:
                names = [e.agent for e in self.entries if e.agent is not None]
                yield ChannelView(names, id="channel")
        if self.with_channel:
            yield RunStatusLine(id="run-status")
            yield StatusBar(id="status")
        yield Footer()

    @property
    def panes(self) -> list[TerminalPane]:
        return list(self.query(TerminalPane))

    @property
    def agents(self) -> list[AgentView]:
        return [a for e in self.entries if e.agent and (a := self.mirror.agents.get(e.agent))]

    def selected_agent(self) -> AgentView | None:
        if 0 <= self.selected < len(self.entries):
            name = self.entries[self.selected].agent
            return self.mirror.agents.get(name) if name else None
        return None

    def on_mount(self) -> None:
        if self.panes and self.focus_first:
            self.panes[0].focus()
        else:
            self._mark_selected()
        self.show_new_messages()
        self.refresh_agents()
        self.refresh_run()

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

    # --- what the server says ------------------------------------------------------------------

    def show_new_messages(self) -> None:
        """The channel messages the mirror has and the view does not show yet."""
        channel = self._channel()
        if channel is None or not self.is_mounted:
            return
        messages = self.mirror.messages
        for message in messages[self._shown :]:
            channel.show(message)
        self._shown = len(messages)

    def _channel(self) -> ChannelView | None:
        """The channel, unless it is not mounted (yet, or any more while the app closes)."""
        return next(iter(self.query(ChannelView)), None)

    def refresh_agents(self) -> None:
        """Pane borders and the status bar follow every agent's status."""
        if not self.is_mounted:
            return
        for pane, entry in zip(self.panes, self.entries, strict=False):
            agent = self.mirror.agents.get(entry.agent) if entry.agent else None
            if agent is not None:
                pane.border_subtitle = status_content(agent)
                pane.set_class(agent.status == AgentStatus.NEEDS_APPROVAL, "-asking")
        status_bar = next(iter(self.query(StatusBar)), None)
        if status_bar is not None:
            selected = self.selected_agent()
            numbered = [
                (i + 1, a)
                for i, e in enumerate(self.entries)
                if e.agent and (a := self.mirror.agents.get(e.agent))
            ]
            status_bar.show(numbered, selected.name if selected else None, self._approval_hint())
        self.refresh_bindings()

    def refresh_run(self) -> None:
        run = self.mirror.run
        if run is not None and run.template:
            for line in self.query(RunStatusLine):
                line.show(run)
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
            return agent is not None and agent.status == AgentStatus.NEEDS_APPROVAL
        if action in {"cycle_policy", "restart"}:
            return agent is not None
        if action == "detach":
            app = self.app
            return isinstance(app, CoderTuiApp) and app.can_detach
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

    def _app(self) -> CoderTuiApp | None:
        app = self.app
        return app if isinstance(app, CoderTuiApp) else None

    def action_approve(self, always: bool = False) -> None:
        agent = self.selected_agent()
        app = self._app()
        if app and agent is not None and agent.status == AgentStatus.NEEDS_APPROVAL:
            app.request(lambda i: api.Approve(id=i, agent=app.agent_ref(agent.name), always=always))

    def action_deny(self) -> None:
        agent = self.selected_agent()
        app = self._app()
        if app and agent is not None and agent.status == AgentStatus.NEEDS_APPROVAL:
            app.request(
                lambda i: api.Approve(id=i, agent=app.agent_ref(agent.name), approved=False)
            )

    def action_cycle_policy(self) -> None:
        agent = self.selected_agent()
        app = self._app()
        if agent is not None and app is not None:
            current = ApprovalPolicy(agent.policy)
            policy = POLICY_CYCLE[(POLICY_CYCLE.index(current) + 1) % 3]
            app.set_policy(agent.name, policy)
            self.notify(f"{agent.name}: approval policy {policy}")

    def action_focus_channel(self) -> None:
        channel = self._channel()
        if channel is not None:
            channel.focus_input()

    async def action_quit_app(self) -> None:
        await self.app.action_quit()

    def action_detach(self) -> None:
        app = self._app()
        if app is not None:
            app.detach()

    def action_restart(self) -> None:
        agent = self.selected_agent()
        app = self._app()
        if agent is not None and app is not None:
            name = agent.name
            app.request(
                lambda i: api.Restart(id=i, agent=app.agent_ref(name)),
                done=f"{name} restarted",
            )

    def action_pick_template(self, name: str = "") -> None:
        """Choose a template and its inputs; the server runs it over the session's agents."""
        app = self._app()
        if app is None:
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
        agents = {agent.name: agent.profile for agent in self.agents}
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
    "detach",
    "focus_channel",
    "pick_template",
}
_TYPED_ACTIONS = _NAV_ACTIONS - {"select"}
_RUN_ACTIONS = {"toggle_pause", "step_once", "answer_gate", "cancel_run"}

Connect = Callable[[], Awaitable[ServerConnection]]


class CoderTuiApp(App[None]):
    """Panes for commands and agents, with the agents' status and a channel, as a client of
    the coder-tui server. ``target`` and ``connect`` name a session on the user's server;
    without them the app serves ``commands`` and ``host`` from a server in this process."""

    TITLE = "coder-tui"
    COMMANDS = App.COMMANDS | {CoderTuiCommands}
    BINDINGS: ClassVar[list[BindingType]] = textual_bindings("app")

    def __init__(
        self,
        commands: Sequence[Sequence[str]] = (),
        *,
        host: RunHost | None = None,
        target: Target | None = None,
        connect: Connect | None = None,
        labels: Sequence[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        keymap: Mapping[str, str] | None = None,
        ring_for: Sequence[str] = NOTIFY_EVENTS,
    ) -> None:
        """``keymap``: binding id -> key (config.yaml's); an id no binding has, or a key two
        bindings would share, raises KeymapError before anything starts. ``host``: a
        core.host.RunHost for the in-process server (tests)."""
        super().__init__()
        self.keymap = dict(keymap or {})
        check_keymap(self.keymap)
        self.set_keymap(textual_keymap(self.keymap))
        self.host = host
        self.target = target
        self._connect = connect
        self.commands = [list(c) for c in commands]
        self.labels = list(labels) if labels else [command_label(c) for c in self.commands]
        self.cwd = Path(cwd) if cwd else Path(host.state.cwd) if host else Path.cwd()
        self.env = env
        self.embedded: Server | None = None  # the server in this process (no target)
        self.connection: ServerConnection | None = None
        self.mirror: SessionMirror | None = None
        self.session_id = ""
        self.detached = False
        self.stopped = False
        self.ended_why: str | None = None
        self.run_id = ""
        self._early: list[api.Message] = []
        self.notify_events = set(ring_for)  # the notices that ring the terminal
        self.rung: list[tuple[str, str]] = []  # (kind, text) of each ring, for tests

    # --- what tests and the CLI read ---------------------------------------------------------

    @property
    def can_detach(self) -> bool:
        """Detaching leaves the agents running: only where the server outlives the app."""
        return self.embedded is None

    @property
    def agents(self) -> list[Agent]:
        """The in-process server's agents (the server's own objects), for tests."""
        return list(self.host.agents.values()) if self.host is not None else []

    @property
    def channel(self) -> Channel | None:
        return self.host.channel if self.host is not None else None

    @property
    def sessions(self) -> list[TerminalSession]:
        """The in-process server's plain command sessions, for tests."""
        session = self._server_session()
        return [p.session for p in session.panes if p.agent_name is None] if session else []

    def server_terminal(self, index: int) -> TerminalSession:
        """Pane ``index``'s TerminalSession in the in-process server (tests read the real
        emulator's state through it)."""
        session = self._server_session()
        assert session is not None, "only an app with its server in this process has it"
        return session.panes[index].session

    def _server_session(self) -> ServerSession | None:
        server = self.embedded
        return server.sessions.get(self.session_id) if server is not None else None

    @property
    def run_in_progress(self) -> bool:
        return (
            self.mirror is not None and self.mirror.run is not None and self.mirror.run.in_progress
        )

    @property
    def run_view(self) -> RunView | None:
        return self.mirror.run if self.mirror else None

    def agent_ref(self, name: str) -> str:
        return f"{self.session_id}:{name}"

    def _theme_colours(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        theme = self.current_theme
        fg = Color.parse(theme.foreground or "#e0e0e0")
        bg = Color.parse(theme.background or "#000000")
        return (fg.r, fg.g, fg.b), (bg.r, bg.g, bg.b)

    # --- attaching ---------------------------------------------------------------------------

    async def on_mount(self) -> None:
        # Everything loaded so far lives as long as the app: keep it out of the collector's
        # scans, and collect the young generation less often. Full collections over a large
        # heap stalled the loop for 100-400 ms while panes streamed (benchmarks/README.md).
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        try:
            view = await self._attach_session()
        except (ServerError, OSError) as exc:
            self.ended_why = str(exc)
            self.exit(return_code=2, message=f"coder-tui: {exc}")
            return
        mirror = self.mirror = SessionMirror(view)
        mirror.listeners.append(self._post_server_event)
        for event in self._early:
            mirror.apply(event)
        self._early.clear()
        entries = [
            PaneEntry(self._label(pane), pane, pane.view.agent) for pane in mirror.pane_order
        ]
        templated = bool(view.run and view.run.template)
        screen = PanesScreen(
            mirror,
            entries,
            self.send_input,
            channel=bool(view.agents),
            focus_first=not templated,
        )
        await self.push_screen(screen)

    def _post_server_event(self, event: api.Message) -> None:
        self.post_message(ServerEvent(event))

    @staticmethod
    def _label(pane: PaneMirror) -> str:
        return pane.view.label

    async def _attach_session(self) -> api.SessionView:
        """Connect (starting the in-process server when there is no target), create or
        resume the session when asked, and attach to it."""
        if self.target is None:
            connection = await self._start_embedded()
        else:
            assert self._connect is not None
            connection = await self._connect()
        self.connection = connection
        connection.on_event = self._on_server_message
        connection.on_lost = self._connection_lost
        target = self.target
        if target is not None and (target.create or target.resume):
            request = target.create or target.resume
            assert request is not None
            created = await connection.request(lambda i: _with_id(request, i))
            assert isinstance(created, api.Created)
            self.session_id, self.run_id = created.session, created.run_id
            for note in created.notes:
                self.notify(note, timeout=10)
        elif target is not None and target.attach is not None:
            self.session_id = target.attach
        view = await connection.request(lambda i: api.Attach(id=i, session=self.session_id))
        assert isinstance(view, api.SessionView)
        if view.run is not None:
            self.run_id = view.run.run_id
        return view

    async def _start_embedded(self) -> ServerConnection:
        server = Server(idle_exit=None)
        await server.start()
        self.embedded = server
        fg, bg = self._theme_colours()
        commands = [
            TerminalSession(argv, cwd=self.cwd, env=self.env, default_fg=fg, default_bg=bg)
            for argv in self.commands
        ]
        host = self.host
        session = server.add_session(host, commands, self.cwd, detached=False)
        for pane, label in zip(session.panes, self.labels, strict=False):
            pane.label = label
        self.session_id = session.session_id
        if host is not None:
            for note in host.notes:
                self.notify(note, timeout=10)
            host.start()
        session.start_unsized_later()
        return await open_connection(server.place.socket, client="tui")

    def _on_server_message(self, message: api.Message) -> None:
        if isinstance(message, api.Notice):
            self.ring(message)
        mirror = self.mirror
        if mirror is None:
            self._early.append(message)
        else:
            mirror.apply(message)

    def ring(self, notice: api.Notice) -> None:
        """Ring the terminal for what needs the user (config.yaml's notifications): BEL, and
        OSC 9 and OSC 777 that terminals which know them show as a notification."""
        if notice.kind not in self.notify_events:
            return
        self.rung.append((notice.kind, notice.text))
        driver = self._driver
        if self.is_headless or driver is None:
            return
        text = terminal_safe(notice.text)[:200]  # no ESC or BEL can end the OSC early
        driver.write(f"\x07\x1b]9;{text}\x1b\\\x1b]777;notify;coder-tui;{text}\x1b\\")

    def _connection_lost(self) -> None:
        if not (self.detached or self.stopped or self._exit_renderables):
            self.ended_why = "the connection to the coder-tui server was lost"
            self.exit(return_code=1, message=f"coder-tui: {self.ended_why}")

    def send_input(self, message: api.Message) -> None:
        if self.connection is not None:
            self.connection.send(message)

    def request(
        self,
        build: Callable[[int], api.Request],
        *,
        done: str | None = None,
    ) -> None:
        """Send a command; the server's refusal is shown as a notification."""
        connection = self.connection
        if connection is None:
            return

        async def send() -> None:
            try:
                await connection.request(build)
            except ServerError as exc:
                self.notify(str(exc), severity="warning", timeout=10)
                return
            if done:
                self.notify(done)

        self.run_worker(send(), exit_on_error=False)

    # --- events ------------------------------------------------------------------------------

    def on_server_event(self, message: ServerEvent) -> None:
        event = message.event
        screen = next((s for s in self.screen_stack if isinstance(s, PanesScreen)), None)
        if isinstance(event, api.ChannelPost) and screen is not None:
            screen.show_new_messages()
        elif isinstance(event, api.AgentChanged) and screen is not None:
            screen.refresh_agents()
        elif isinstance(event, api.RunChanged) and screen is not None:
            screen.refresh_run()
        elif isinstance(event, api.PaneChanged) and screen is not None:
            screen.refresh_agents()
        elif isinstance(event, api.Notice):
            severity = event.severity if event.severity in ("warning", "error") else "information"
            self.notify(event.text, severity=severity, timeout=15)  # type: ignore[arg-type]
        elif isinstance(event, api.SessionEnded):
            self.ended_why = event.why
            self.stopped = True
            self.exit()

    def start_picked(self, result: PickResult | None) -> None:
        """The template picker's answer: the server runs it over this session's agents."""
        if result is None:
            return
        name, inputs = result.template.name, dict(result.inputs)
        self.request(
            lambda i: api.StartTemplate(id=i, session=self.session_id, template=name, inputs=inputs)
        )

    async def on_channel_view_said(self, message: ChannelView.Said) -> None:
        """The user said something in the channel."""
        text = message.text
        self.request(lambda i: api.Say(id=i, session=self.session_id, text=text))

    # --- run control (keys) ---------------------------------------------------------------

    def _run_command(self, command: str) -> None:
        self.request(lambda i: api.RunCommand(id=i, command=command, run=self.session_id))

    def action_toggle_pause(self) -> None:
        run = self.run_view
        if run is not None and run.in_progress:
            self._run_command("resume" if run.paused else "pause")

    def action_step_once(self) -> None:
        self._run_command("step")

    def action_answer_gate(self, approved: bool) -> None:
        run = self.run_view
        if run is None or not run.waiting_at_gate:
            self.notify("no approval gate is waiting")
            return
        self.request(lambda i: api.AnswerGate(id=i, session=self.session_id, approved=approved))

    def action_cancel_run(self) -> None:
        self._run_command("cancel")

    def set_policy(self, name: str, policy: ApprovalPolicy) -> None:
        self.request(lambda i: api.SetPolicy(id=i, agent=self.agent_ref(name), policy=str(policy)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_pane":
            return focused_pane(self) is not None or channel_input_focused(self)
        if action in _RUN_ACTIONS:
            typing = focused_pane(self) is not None or channel_input_focused(self)
            run = self.run_view
            if run is None or not run.template or typing:
                return False
            if action == "answer_gate":
                return run.waiting_at_gate
            if action == "step_once":
                return run.paused
        return True

    def action_leave_pane(self) -> None:
        screen = self.screen
        if isinstance(screen, PanesScreen):
            screen.action_leave_pane()

    # --- leaving -------------------------------------------------------------------------------

    def detach(self) -> None:
        """Leave: everything keeps running in the server (``coder-tui attach`` comes back)."""
        self.detached = True
        self.exit()

    async def action_quit(self) -> None:
        """Quit. With the server outside this process, ask: detach (the agents keep working)
        or stop them. The in-process server ends with the app: every child ends first."""
        if not self.can_detach or self.mirror is None:
            await self.stop_session()
            self.exit()
            return
        if isinstance(self.screen, QuitScreen):
            return
        self.push_screen(QuitScreen(self.keymap), self._quit_chosen)

    async def _quit_chosen(self, choice: QuitChoice | None) -> None:
        if choice == "detach":
            self.detach()
        elif choice == "stop":
            await self.stop_session()
            self.exit()

    async def stop_session(self) -> None:
        """Stop this session's agents and commands (a run in flight is left resumable)."""
        self.stopped = True
        connection = self.connection
        if connection is not None and not connection.closed and self.session_id:
            with contextlib.suppress(ServerError):
                await connection.request(lambda i: api.StopSession(id=i, session=self.session_id))
        await self._close_embedded()

    async def _close_embedded(self) -> None:
        server = self.embedded
        if server is not None:
            await server.close()

    async def on_unmount(self) -> None:
        """However the app ends, the connection closes (the server sees a detach); the
        in-process server takes every child with it."""
        if self.connection is not None:
            await self.connection.close()
        await self._close_embedded()

    def kill_sessions_now(self) -> None:
        """Last resort after the loop stopped (a crash): no child of the in-process server
        may outlive the app."""
        server = self.embedded
        if server is None:
            return
        for session in list(server.sessions.values()):
            for pane in session.panes:
                pane.session.close_now()


def _with_id(request: api.Request, request_id: int) -> api.Request:
    """``request`` with the connection's id for it."""
    import msgspec

    return msgspec.structs.replace(request, id=request_id)
