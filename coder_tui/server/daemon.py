"""The coder-tui server: one per user and state dir, owning every session's agents.

It takes a lock in the state dir (a second server says where the first one is), listens on a
Unix socket in the user's runtime dir (folder 0700, socket 0600), and answers only peers of its
own uid (SO_PEERCRED; another user's connection is logged and closed). A socket left by a dead
server is stale by definition once the lock is ours, so it is replaced. The server exits by
itself when no child is alive and no client has been attached for IDLE_EXIT seconds, and logs
to ``server.log`` in the state dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from coder_tui import paths
from coder_tui.core.agents.agent import AgentGone, DeliveryError
from coder_tui.core.agents.events import AgentStatus, ApprovalPolicy
from coder_tui.core.agents.names import AgentNameError
from coder_tui.core.agents.profile import AgentProfile, load_profiles
from coder_tui.core.agents.team import AgentRequest
from coder_tui.core.host import HostError, HostOptions, RunHost
from coder_tui.core.runs import RunStatus, RunStore, released
from coder_tui.core.session import TerminalSession
from coder_tui.core.templates import Template, load_templates
from coder_tui.core.yamlfile import ConfigError
from coder_tui.server.connection import ApiError, ClientConnection
from coder_tui.server.protocol import (
    AnswerGate,
    Approve,
    Attach,
    ChannelPost,
    Created,
    CreateSession,
    Delivered,
    Detach,
    Focus,
    Key,
    Message,
    Mouse,
    Paste,
    ReplyResult,
    Request,
    Resize,
    Restart,
    ResumeRun,
    RunCommand,
    Say,
    Scroll,
    Send,
    SessionEnded,
    SetPolicy,
    Shutdown,
    StartTemplate,
    Status,
    StatusResult,
    StopSession,
    Watch,
)
from coder_tui.server.screens import StyleTable
from coder_tui.server.sessions import Pane, ServerSession

log = logging.getLogger(__name__)

IDLE_EXIT = 5.0  # seconds without a live child or a client before the server exits
IDLE_CHECK = 0.5
# What a client's environment says about its own terminal: the children get the server's.
TERMINAL_VARIABLES = {"TERM", "COLORTERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "TMUX", "STY"}


class ServerRunning(Exception):
    """Another server holds the lock; the message says which and where."""


@dataclass(frozen=True)
class ServerPlace:
    """Where a server of this state dir keeps its socket, lock and log."""

    socket: Path
    lock: Path
    log: Path
    info: Path

    @classmethod
    def default(cls) -> ServerPlace:
        state = paths.state_dir()
        return cls(
            paths.socket_path(), paths.server_lock(), paths.server_log(), state / "server.json"
        )


def private_dir(folder: Path) -> None:
    """Make ``folder`` (and its parents) exist, ours and 0700; refuse one another user owns."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise PermissionError(f"{folder} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o077:
        folder.chmod(0o700)


def peer_uid(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a Unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


class Server:
    """The sessions, the socket, and the rules for staying alive."""

    def __init__(self, place: ServerPlace | None = None, *, idle_exit: float | None = IDLE_EXIT):
        self.place = place or ServerPlace.default()
        self.idle_exit = idle_exit
        self.sessions: dict[str, ServerSession] = {}
        self.clients: set[ClientConnection] = set()
        self.watchers: set[ClientConnection] = set()
        self.styles = StyleTable()
        self.started = time.monotonic()
        self._lock_fd: int | None = None
        self._server: asyncio.base_events.Server | None = None
        self._stopped = asyncio.Event()
        self._next_session = 1
        self._next_pane = 1
        self._idle_since: float | None = None
        self._idle_task: asyncio.Task[None] | None = None
        self.refused_peers = 0

    # --- up and down -------------------------------------------------------------------------

    def take_lock(self) -> None:
        """The one-server rule. Raises ServerRunning naming the running server."""
        private_dir(self.place.lock.parent)
        fd = os.open(self.place.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ServerRunning(running_server_text(self.place)) from None
        self._lock_fd = fd

    async def start(self) -> None:
        if self._lock_fd is None:
            self.take_lock()
        sock_path = self.place.socket
        private_dir(sock_path.parent)
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()  # a dead server's: the lock is ours, so nobody listens there
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=str(sock_path))
        finally:
            os.umask(old_umask)
        sock_path.chmod(0o600)
        info = {"pid": os.getpid(), "socket": str(sock_path), "started": time.time()}
        _write_private(self.place.info, json.dumps(info))
        log.info("server %d listening on %s", os.getpid(), sock_path)
        if self.idle_exit is not None:
            self._idle_task = asyncio.create_task(self._watch_idle())

    async def serve(self) -> None:
        """Run until stopped (a Shutdown, a signal, or idle)."""
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop, f"signal {sig.name}")
        await self._stopped.wait()
        await self.close()

    def request_stop(self, why: str) -> None:
        log.info("stopping: %s", why)
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def close(self) -> None:
        """Stop every session (runs left resumable), then the socket and the lock."""
        if self._idle_task is not None:
            self._idle_task.cancel()
        await asyncio.gather(
            *(s.stop("the server stopped") for s in list(self.sessions.values())),
            return_exceptions=True,
        )
        for client in list(self.clients):
            client.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        with contextlib.suppress(FileNotFoundError):
            self.place.socket.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.place.info.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._stopped.set()

    async def _watch_idle(self) -> None:
        assert self.idle_exit is not None
        while not self._stopped.is_set():
            await asyncio.sleep(IDLE_CHECK)
            busy = bool(self.clients) or any(s.alive for s in self.sessions.values())
            now = time.monotonic()
            if busy:
                self._idle_since = None
            elif self._idle_since is None:
                self._idle_since = now
            elif now - self._idle_since >= self.idle_exit:
                self.request_stop("no agent alive and no client attached")

    # --- connections -------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        pid, uid = peer_uid(sock)
        if uid != os.getuid():
            self.refused_peers += 1
            log.warning(
                "refused a connection from uid %d (pid %d): not this server's user", uid, pid
            )
            writer.close()
            return
        transport = writer.transport
        transport.set_write_buffer_limits(high=256 * 1024)
        client = ClientConnection(
            reader, writer, peer=f"pid {pid}", handle=self._handle, on_input=self._on_input
        )
        self.clients.add(client)
        client.on_close.append(self._client_gone)
        await client.serve()

    def _client_gone(self, client: ClientConnection) -> None:
        self.clients.discard(client)
        self.watchers.discard(client)
        for session in list(self.sessions.values()):
            if client in session.clients:
                session.detach(client)
                session.check_end()

    # --- input -------------------------------------------------------------------------------

    def _on_input(self, client: ClientConnection, message: Message) -> None:
        pane_id = getattr(message, "pane", None)
        found = self._pane(pane_id) if isinstance(pane_id, int) else None
        if found is None:
            return
        session, pane = found
        term = pane.session
        if isinstance(message, Resize):
            session.resize(client, pane.pane_id, message.cols, message.rows)
            return
        session.activate(client, pane)
        if isinstance(message, Key):
            if not term.ended:
                if not term.screen.scrollback.at_bottom:
                    term.screen.scroll_to_bottom()
                    pane.feed.invalidate()
                term.send_key(message.key, message.character)
        elif isinstance(message, Paste):
            if not term.screen.scrollback.at_bottom:
                term.screen.scroll_to_bottom()
                pane.feed.invalidate()
            term.paste(message.text)
        elif isinstance(message, Mouse):
            screen = term.screen
            if screen.mouse_tracking and not term.ended:
                term.write(
                    screen.encode_mouse(
                        message.button,
                        message.x,
                        message.y,
                        press=message.press if message.press is not None else True,
                        motion=message.motion,
                    )
                )
        elif isinstance(message, Focus):
            term.write(term.screen.encode_focus(message.gained))
        elif isinstance(message, Scroll):
            if message.rows == 0:
                term.screen.scroll_to_bottom()
            else:
                term.screen.scroll_viewport(message.rows)
            pane.feed.invalidate()

    def _pane(self, pane_id: int) -> tuple[ServerSession, Pane] | None:
        for session in self.sessions.values():
            pane = session.pane(pane_id)
            if pane is not None:
                return session, pane
        return None

    # --- requests ----------------------------------------------------------------------------

    async def _handle(self, client: ClientConnection, request: Request) -> ReplyResult:
        if isinstance(request, Status):
            return self.status()
        if isinstance(request, CreateSession):
            return self.create_session(request)
        if isinstance(request, ResumeRun):
            return self.resume_run(request)
        if isinstance(request, Attach):
            return self.attach(client, request)
        if isinstance(request, Detach):
            session = self._session(request.session)
            session.detach(client)
            session.check_end()
            return None
        if isinstance(request, Watch):
            self.watchers.add(client)
            for session in self.sessions.values():
                session.watchers = self.watchers
            return self.status()
        if isinstance(request, Say):
            host = self._host(self._session(request.session))
            await host.user_message(request.text)
            return None
        if isinstance(request, Send):
            return await self.send(client, request)
        if isinstance(request, RunCommand):
            return self.run_command(request)
        if isinstance(request, AnswerGate):
            host = self._host(self._session(request.session))
            if not host.answer_gate(request.approved):
                raise ApiError("no approval gate is waiting")
            return None
        if isinstance(request, Approve):
            return self.approve(request)
        if isinstance(request, SetPolicy):
            session, agent_name = self._agent(request.agent)
            try:
                policy = ApprovalPolicy(request.policy)
            except ValueError:
                modes = ", ".join(p.value for p in ApprovalPolicy)
                raise ApiError(f"policy must be one of {modes}") from None
            host = self._host(session)
            host.set_policy(agent_name, policy)
            session.agent_changed(host.agents[agent_name])
            return None
        if isinstance(request, Restart):
            session, agent_name = self._agent(request.agent)
            await self._host(session).restart(agent_name)
            return None
        if isinstance(request, StartTemplate):
            return self.start_template(request)
        if isinstance(request, StopSession):
            await self._session(request.session).stop("stopped by a client")
            return None
        if isinstance(request, Shutdown):
            asyncio.get_running_loop().call_soon(self.request_stop, "a client asked")
            return None
        raise ApiError(f"unknown request {type(request).__name__}")

    def status(self) -> StatusResult:
        return StatusResult(
            server_pid=os.getpid(), sessions=[s.view() for s in self.sessions.values()]
        )

    def _new_pane_id(self) -> int:
        number = self._next_pane
        self._next_pane += 1
        return number

    def add_session(
        self,
        host: RunHost | None,
        commands: list[TerminalSession],
        cwd: Path,
        detached: bool = False,
    ) -> ServerSession:
        session_id = str(self._next_session)
        self._next_session += 1
        session = ServerSession(
            session_id,
            cwd=cwd,
            host=host,
            commands=commands,
            styles=self.styles,
            new_pane_id=self._new_pane_id,
            detached=detached,
        )
        session.watchers = self.watchers
        session.on_end = self._session_ended
        self.sessions[session_id] = session
        return session

    def _session_ended(self, session: ServerSession, why: str) -> None:
        self.sessions.pop(session.session_id, None)
        message = SessionEnded(session=session.session_id, why=why)
        for client in set(session.clients) | self.watchers:
            client.send(message)

    def create_session(self, request: CreateSession) -> Created:
        cwd = Path(request.cwd)
        if not cwd.is_dir():
            raise ApiError(f"{cwd}: no such folder")
        env = child_env(request.env)
        project = paths.project_dir(cwd)
        host: RunHost | None = None
        template: Template | None = None
        if request.agents:
            profiles = _profiles(project)
            unknown = [a.profile for a in request.agents if a.profile not in profiles]
            if unknown:
                raise ApiError(f"no agent profile named {unknown[0]!r}")
            if request.template:
                template = _template(project, request.template)
            requests = [
                AgentRequest(a.name, a.profile, _policy(a.policy), skip_approval=a.skip_approval)
                for a in request.agents
            ]
            options = HostOptions(
                startup_timeout=60.0 if request.headless else None,
                starts_agents=request.headless,
                extra_args=dict(request.extra_args),
                env=env,
            )
            try:
                host = RunHost.new(
                    paths.runs_dir(),
                    cwd,
                    requests,
                    profiles,
                    template=template,
                    inputs=dict(request.inputs),
                    options=options,
                )
            except AgentNameError as exc:
                raise ApiError(str(exc)) from None
        commands = [TerminalSession(argv, cwd=cwd, env=env) for argv in request.commands]
        if host is None and not commands:
            raise ApiError("a session needs agents or commands")
        session = self.add_session(host, commands, cwd, request.detached)
        if host is not None:
            host.start()
        if not request.headless:
            session.start_unsized_later()
        log.info("session %s: %s", session.session_id, session.title)
        return Created(
            session=session.session_id,
            run_id=host.store.run_id if host else "",
            notes=list(host.notes) if host else [],
        )

    def resume_run(self, request: ResumeRun) -> Created:
        try:
            store = RunStore.open(request.run, paths.runs_dir())
        except (FileNotFoundError, ValueError, LookupError) as exc:
            raise ApiError(str(exc)) from None
        state = store.state
        live = store.status
        if live in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            raise ApiError(f"run {state.run_id} already ended ({live}); nothing to resume")
        if live in (RunStatus.RUNNING, RunStatus.PAUSED) and not released(state):
            raise ApiError(f"run {state.run_id} is still {live} in process {state.pid}")
        cwd = Path(state.cwd)
        project = paths.project_dir(cwd)
        template = _template(project, state.template) if state.template else None
        options = HostOptions(
            startup_timeout=60.0 if request.headless else None,
            starts_agents=request.headless,
            env=child_env(request.env),
        )
        try:
            host = RunHost.resumed(store, _profiles(project), template, options=options)
        except AgentNameError as exc:
            raise ApiError(f"run {state.run_id} cannot be resumed: {exc}") from None
        session = self.add_session(host, [], cwd, request.detached)
        host.start()
        if not request.headless:
            session.start_unsized_later()
        return Created(session=session.session_id, run_id=store.run_id, notes=list(host.notes))

    def attach(self, client: ClientConnection, request: Attach) -> ReplyResult:
        session = self._session(request.session)
        view = session.view()
        view.clients += 1
        # The reply goes out before the posts and frames that follow it, with nothing in
        # between: the client has its panes before their first rows, and misses no post.
        client.after_reply[request.id] = lambda: self._attached(client, session, request)
        return view

    def _attached(self, client: ClientConnection, session: ServerSession, request: Attach) -> None:
        for message in session.channel_history():
            client.send(
                ChannelPost(session=session.session_id, message=message.model_dump(mode="json"))
            )
        session.attach(client, dict(request.sizes))

    async def send(self, client: ClientConnection, request: Send) -> Delivered:
        session, name = self._agent(request.agent)
        host = self._host(session)
        client.receipt(request, "queued")
        try:
            handle_future = host.send_to(name, request.text)
            handle = await handle_future
        except (DeliveryError, AgentGone, HostError) as exc:
            raise ApiError(f"{name}: {exc}") from None
        client.receipt(request, "submitted", handle.proof.how)
        if not request.wait:
            return Delivered(agent=name)
        try:
            reply = await handle.reply()
        except AgentGone as exc:
            raise ApiError(f"{name}: {exc}") from None
        client.receipt(request, "ended")
        client.receipt(request, "reply")
        return Delivered(agent=name, reply=reply)

    def run_command(self, request: RunCommand) -> ReplyResult:
        session = self._run_session(request.run)
        host = self._host(session)
        operator = host.operator
        command = request.command
        if command == "cancel":
            host.cancel()
            return None
        if operator is None or not host.run_in_progress:
            raise ApiError(f"session {session.session_id} runs no workflow")
        if command == "pause":
            if not operator.paused:
                operator.pause()
        elif command == "resume":
            if operator.paused:
                operator.resume()
        elif command == "step":
            host.step_once()
        else:
            raise ApiError(f"unknown run command {command!r} (pause, resume, step, cancel)")
        return None

    def approve(self, request: Approve) -> ReplyResult:
        session, name = self._agent(request.agent)
        agent = self._host(session).agents[name]
        if agent.status is not AgentStatus.NEEDS_APPROVAL:
            raise ApiError(f"{name} is {agent.status}: it asks for no approval now")
        if request.approved:
            agent.approve(always=request.always)
        else:
            agent.deny()
        return None

    def start_template(self, request: StartTemplate) -> ReplyResult:
        session = self._session(request.session)
        host = self._host(session)
        template = _template(paths.project_dir(session.cwd), request.template)
        try:
            host.start_template(template, dict(request.inputs))
        except (HostError, OSError) as exc:
            raise ApiError(f"cannot start {template.name}: {exc}") from None
        return None

    # --- finding what a request names --------------------------------------------------------

    def _session(self, session_id: str) -> ServerSession:
        session = self.sessions.get(session_id)
        if session is None:
            known = ", ".join(self.sessions) or "none"
            raise ApiError(f"no session {session_id!r} (sessions: {known})")
        return session

    @staticmethod
    def _host(session: ServerSession) -> RunHost:
        if session.host is None:
            raise ApiError(f"session {session.session_id} has no agents")
        return session.host

    def _agent(self, ref: str) -> tuple[ServerSession, str]:
        """NAME or SESSION:NAME -> the session and the agent's name."""
        session_id, _, name = ref.rpartition(":")
        matches = [
            (s, name)
            for s in self.sessions.values()
            if (not session_id or s.session_id == session_id) and s.agent(name) is not None
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ApiError(f"no agent {ref!r} (agents: {self._agent_list()})")
        where = ", ".join(f"{s.session_id}:{n}" for s, n in matches)
        raise ApiError(f"{name!r} is in several sessions: say which ({where})")

    def _agent_list(self) -> str:
        names = [
            f"{s.session_id}:{name}"
            for s in self.sessions.values()
            for name in (s.host.agents if s.host else {})
        ]
        return ", ".join(names) or "none"

    def _run_session(self, ref: str) -> ServerSession:
        """A run id (or a unique prefix) or a session id; "" = the one session with a run."""
        if ref in self.sessions:
            return self.sessions[ref]
        with_runs = [s for s in self.sessions.values() if s.host is not None]
        if ref:
            matches = [s for s in with_runs if s.host and s.host.store.run_id.startswith(ref)]
        else:
            matches = [s for s in with_runs if s.host and s.host.run_in_progress]
        if len(matches) == 1:
            return matches[0]
        runs = ", ".join(
            f"{s.host.store.run_id} (session {s.session_id})" for s in with_runs if s.host
        )
        if not matches:
            what = f"no run {ref!r}" if ref else "no workflow is running"
            raise ApiError(f"{what} (runs: {runs or 'none'})")
        raise ApiError(f"several runs: say which ({runs})")


def child_env(client_env: dict[str, str]) -> dict[str, str]:
    """The client's environment for the children, minus what describes its own terminal."""
    return {k: v for k, v in client_env.items() if k not in TERMINAL_VARIABLES}


def _policy(value: str) -> ApprovalPolicy:
    try:
        return ApprovalPolicy(value)
    except ValueError:
        raise ApiError(f"unknown approval policy {value!r}") from None


def _profiles(project: Path | None) -> dict[str, AgentProfile]:
    try:
        return load_profiles(project)
    except ConfigError as exc:
        raise ApiError(f"broken agent profile:\n{exc}") from None


def _template(project: Path | None, name: str) -> Template:
    try:
        templates = load_templates(project)
    except ConfigError as exc:
        raise ApiError(f"broken template file:\n{exc}") from None
    template = templates.get(name)
    if template is None:
        raise ApiError(f"no template named {name!r} (known: {', '.join(sorted(templates))})")
    return template


def running_server_text(place: ServerPlace) -> str:
    try:
        info = json.loads(place.info.read_text())
        return f"a coder-tui server is already running (pid {info['pid']}, socket {info['socket']})"
    except (OSError, ValueError, KeyError):
        return f"a coder-tui server is already running (lock {place.lock})"


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def logging_to(path: Path) -> Iterator[None]:
    """The server's log file (0600), for the time it runs."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def run_server(place: ServerPlace | None = None) -> int:
    """``coder-tui server --foreground``: serve until stopped; 0, or 2 when one runs already."""
    server = Server(place)
    server.take_lock()  # ServerRunning says which server runs
    with logging_to(server.place.log):
        asyncio.run(server.serve())
    return 0
