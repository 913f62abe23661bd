"""The coder-tui server as a user meets it: started on demand, steered by the command-line
verbs and the TUI, surviving its clients, and leaving nothing lost when it is killed.

Every server here is a real process (``coder-tui server --foreground``, started by the first
command that needs it) on a real Unix socket under the test's own CODER_TUI_HOME, with the
fake agent CLI in real PTYs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from coder_tui import paths
from coder_tui.client.connection import ServerConnection, connect
from coder_tui.server.protocol import AgentSpec, Created, CreateSession, Status, StatusResult
from tests.conftest import run_coder_tui, wait_for
from tests.fake_profiles import write_fake_profile

SCRIPT = """\
rules:
  - match: "slow"
    reply: "slow reply done"
    delay: 3.0
default_reply: "echo: {prompt}"
"""


@pytest.fixture
def scripted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user profile 'scripted' (the fake agent with a script), and a working folder."""
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT)
    write_fake_profile(paths.config_dir() / "agents", "scripted", script)
    work = tmp_path / "work"
    work.mkdir()
    return work


def server_pid() -> int | None:
    try:
        return int(json.loads((paths.state_dir() / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.fixture(autouse=True)
def no_server_left() -> Iterator[None]:
    """Whatever a test did, its server (and so its agents) is gone afterwards."""
    yield
    pid = server_pid()
    if pid is not None and alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


async def new_session(work: Path, *names: str) -> tuple[ServerConnection, Created]:
    """A session of scripted agents, created over the API as `coder-tui` would."""
    connection = await connect(client="test")
    created = await connection.request(
        lambda i: CreateSession(
            id=i,
            cwd=str(work),
            agents=[AgentSpec(name=n, profile="scripted") for n in names],
            env=dict(os.environ),
            headless=True,
        )
    )
    assert isinstance(created, Created)
    return connection, created


async def status(connection: ServerConnection) -> StatusResult:
    result = await connection.request(lambda i: Status(id=i))
    assert isinstance(result, StatusResult)
    return result


async def agents_idle(connection: ServerConnection, count: int, timeout: float = 20) -> None:
    async def idle() -> bool:
        result = await status(connection)
        return sum(a.status == "idle" for s in result.sessions for a in s.agents) == count

    deadline = time.monotonic() + timeout
    while not await idle():
        assert time.monotonic() < deadline, (await status(connection)).sessions
        await asyncio.sleep(0.05)


def channel_lines(run_id: str) -> list[dict[str, object]]:
    path = paths.runs_dir() / run_id / "channel.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_verbs_over_a_server_started_on_demand(scripted: Path) -> None:
    # No server yet: ls says so and starts none.
    listed = run_coder_tui("ls", cwd=scripted)
    assert listed.returncode == 0 and "no coder-tui server is running" in listed.stdout
    assert not paths.socket_path().exists()

    connection, created = await new_session(scripted, "alpha", "beta")
    try:
        await agents_idle(connection, 2)
        # Private state: the socket's folder 0700, the socket and the log 0600.
        assert stat.S_IMODE(paths.socket_path().parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(paths.socket_path().stat().st_mode) == 0o600
        assert stat.S_IMODE(paths.server_log().stat().st_mode) == 0o600

        sent = run_coder_tui("send", "alpha", "hello there", "--wait", cwd=scripted)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.strip() == "echo: hello there"
        stages = [line.split()[0] for line in sent.stderr.splitlines()]
        assert stages == ["queued", "submitted", "ended", "reply"], sent.stderr
        # Recorded once each: the user's message for alpha and alpha's reply.
        messages = channel_lines(created.run_id)
        said = [(m["author"], m["text"]) for m in messages]
        assert said.count(("user", "hello there")) == 1
        assert said.count(("alpha", "echo: hello there")) == 1
        assert next(m for m in messages if m["author"] == "user")["targets"] == ["alpha"]

        listed = run_coder_tui("ls", cwd=scripted)
        assert f"session {created.session}:" in listed.stdout
        assert f"{created.session}:alpha (scripted) idle" in listed.stdout
        as_json = json.loads(run_coder_tui("status", "--json", cwd=scripted).stdout)
        names = [a["name"] for s in as_json["sessions"] for a in s["agents"]]
        assert sorted(names) == ["alpha", "beta"]

        # Bad input names what exists.
        unknown = run_coder_tui("send", "gamma", "hi", cwd=scripted)
        assert unknown.returncode == 2
        assert "no agent 'gamma'" in unknown.stderr and f"{created.session}:alpha" in unknown.stderr
        paused = run_coder_tui("pause", "nope", cwd=scripted)
        assert paused.returncode == 2 and "no run 'nope'" in paused.stderr
        assert created.run_id in paused.stderr
        second = run_coder_tui("server", cwd=scripted)
        assert second.returncode == 2
        assert "already running" in second.stderr and str(paths.socket_path()) in second.stderr
    finally:
        await connection.close()

    pid = server_pid()
    assert pid is not None
    stopped = run_coder_tui("server", "--stop", cwd=scripted)
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(pid) and not paths.socket_path().exists()
    run = json.loads((paths.runs_dir() / created.run_id / "run.json").read_text())
    assert run["status"] == "paused" and run["pid"] == 0  # released: resume can take it


async def test_a_client_killed_mid_turn_loses_nothing(scripted: Path) -> None:
    connection, created = await new_session(scripted, "solo")
    try:
        await agents_idle(connection, 1)
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "coder_tui", "send", "solo", "slow please", "--wait"),
            cwd=scripted,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await wait_for(
            lambda: any(m["text"] == "slow please" for m in channel_lines(created.run_id)), 10
        )

        async def working() -> bool:
            result = await status(connection)
            return result.sessions[0].agents[0].status == "working"

        deadline = time.monotonic() + 10
        while not await working():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        client.kill()
        await client.wait()
        # The turn goes on without its client, and its reply is recorded exactly once.
        await wait_for(
            lambda: any(m["text"] == "slow reply done" for m in channel_lines(created.run_id)), 15
        )
        await agents_idle(connection, 1)
        texts = [m["text"] for m in channel_lines(created.run_id)]
        assert texts.count("slow please") == 1 and texts.count("slow reply done") == 1
    finally:
        await connection.close()


async def test_the_server_killed_minus_9_loses_no_message_and_resume_goes_on(
    scripted: Path,
) -> None:
    connection, created = await new_session(scripted, "solo")
    await agents_idle(connection, 1)
    sent = run_coder_tui("send", "solo", "before the crash", "--wait", cwd=scripted)
    assert sent.returncode == 0 and "echo: before the crash" in sent.stdout
    pid = server_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: not alive(pid), 10)
    await connection.close()
    assert paths.socket_path().exists()  # left behind: stale, and no obstacle

    texts = [m["text"] for m in channel_lines(created.run_id)]
    assert texts == ["before the crash", "echo: before the crash"]
    runs = run_coder_tui("runs", cwd=scripted)
    assert created.run_id in runs.stdout and "crashed" in runs.stdout

    resumed = run_coder_tui("resume", created.run_id, "--detach", cwd=scripted)
    assert resumed.returncode == 0, resumed.stderr
    again = run_coder_tui("send", "solo", "after the crash", "--wait", cwd=scripted, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "echo: after the crash"
    texts = [m["text"] for m in channel_lines(created.run_id)]
    assert texts == [
        "before the crash",
        "echo: before the crash",
        "after the crash",
        "echo: after the crash",
    ]
    new_pid = server_pid()
    assert new_pid is not None and new_pid != pid


async def test_another_protocol_version_gets_one_clear_sentence(scripted: Path) -> None:
    connection, _ = await new_session(scripted, "solo")
    await connection.close()
    reader, writer = await asyncio.open_unix_connection(str(paths.socket_path()))
    body = msgspec.msgpack.encode({"type": "hello", "version": 999, "client": "future"})
    writer.write(struct.pack(">I", len(body)) + body)
    header = await reader.readexactly(4)
    answer = msgspec.msgpack.decode(await reader.readexactly(struct.unpack(">I", header)[0]))
    writer.close()
    assert answer["type"] == "refused"
    assert "speaks protocol 1 and this coder-tui speaks 999" in answer["reason"]
    assert "coder-tui server --stop" in answer["reason"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
async def test_another_users_connection_is_refused_and_logged(scripted: Path) -> None:
    connection, _ = await new_session(scripted, "solo")
    await connection.close()
    sock_path = paths.socket_path()
    # Open the doors a user would never open, so only the peer check stands in the way.
    opened: list[Path] = []
    for folder in [sock_path.parent, *sock_path.parent.parents]:
        if folder.stat().st_mode & 0o001 == 0:
            folder.chmod(folder.stat().st_mode | 0o011)
            opened.append(folder)
    sock_path.chmod(0o666)
    probe = (
        "import socket, struct, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect({str(sock_path)!r})\n"
        "try:\n"
        "    s.sendall(struct.pack('>I', 3) + b'abc')\n"
        "    print('closed' if s.recv(100) == b'' else 'answered')\n"
        "except (ConnectionResetError, BrokenPipeError):\n"
        "    print('closed')\n"
    )
    # The system's Python: the test's venv may sit in a folder that user cannot enter.
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    result = await asyncio.to_thread(
        subprocess.run,
        [python, "-c", probe],
        capture_output=True,
        text=True,
        timeout=20,
        user=65534,
        env={"PATH": os.environ["PATH"]},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "closed"  # closed at once, not a byte of an answer
    await wait_for(
        lambda: "refused a connection from uid 65534" in paths.server_log().read_text(), 5
    )
    for folder in opened:
        with contextlib.suppress(OSError):
            folder.chmod(folder.stat().st_mode & ~0o011)


def test_socket_path_too_long_falls_back_to_a_private_short_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    monkeypatch.setenv("CODER_TUI_HOME", str(deep))
    path = paths.socket_path()
    assert len(os.fsencode(path)) <= paths.SOCKET_PATH_MAX
    assert path.parent == Path(f"/tmp/coder-tui-{os.getuid()}")
    # One server per state dir still: another state dir gets another name.
    monkeypatch.setenv("CODER_TUI_HOME", str(deep / "other"))
    assert paths.socket_path() != path
    with socket.socket(socket.AF_UNIX) as probe:
        probe.bind(str(tmp_path / "s"))  # (the fallback name is a valid socket path too)


async def test_the_tui_detaches_and_attaches_while_the_agent_works(scripted: Path) -> None:
    from coder_tui.ui.app import CoderTuiApp, Target
    from coder_tui.ui.widgets.agent_status import StatusBar
    from coder_tui.ui.widgets.channel_view import ChannelView
    from coder_tui.ui.widgets.terminal_pane import TerminalPane

    def shown(app: CoderTuiApp) -> str:
        pane = app.screen.query_one("#pane-0", TerminalPane)
        return "\n".join(pane.render_line(y).text for y in range(pane.content_size.height))

    def channel(app: CoderTuiApp) -> str:
        return app.screen.query_one(ChannelView).text()

    create = CreateSession(
        id=0,
        cwd=str(scripted),
        agents=[AgentSpec(name="solo", profile="scripted")],
        env=dict(os.environ),
    )
    first = CoderTuiApp(target=Target(create=create), connect=lambda: connect(client="tui"))
    async with first.run_test(size=(140, 40)) as pilot:
        await wait_for(lambda: "? for shortcuts" in shown(first), 20)
        await pilot.press(*"slow one", "enter")
        status_bar = first.screen.query_one(StatusBar)
        await wait_for(lambda: "working" in str(status_bar.render()), 10)
        # Detach in the middle of the turn: the agent keeps working in the server.
        await pilot.press("ctrl+right_square_bracket", "D")
        await wait_for(lambda: not first.is_running, 10)
    assert first.detached and first.session_id

    second = CoderTuiApp(
        target=Target(attach=first.session_id), connect=lambda: connect(client="tui")
    )
    async with second.run_test(size=(140, 40)) as pilot2:
        # The screen comes from the server's emulator: what the agent drew while no
        # window was open is there, and the reply is in the channel exactly once.
        await wait_for(lambda: "slow reply done" in shown(second), 15)
        await wait_for(lambda: "slow reply done" in channel(second), 10)
        assert channel(second).count("slow reply done") == 1
        await pilot2.press("ctrl+right_square_bracket", "q")
        await pilot2.press("s")  # the quit dialog: stop the agents
        await wait_for(lambda: not second.is_running, 15)
    assert second.stopped
    messages = channel_lines(second.run_id)
    assert [m["text"] for m in messages].count("slow reply done") == 1


NOTIFY_TEMPLATE = """\
name: notify-check
title: Notify check
category: other
description: One step, then a gate.
inputs:
  - name: task
roles:
  worker:
    prefer: [scripted]
steps:
  - id: work
    role: worker
    prompt: "{{ inputs.task }}"
  - id: confirm
    gate:
      message: "Done?"
"""

NOTIFY_SCRIPT = """\
rules:
  - match: "write please"
    reply: "written"
    write: {path: note.txt, content: hi}
  - match: "crash now"
    crash: 3
default_reply: "echo: {prompt}"
"""


async def test_each_event_notifies_once_through_the_users_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))
    script = tmp_path / "script.yaml"
    script.write_text(NOTIFY_SCRIPT)
    write_fake_profile(paths.config_dir() / "agents", "scripted", script)
    (paths.config_dir() / "templates").mkdir(parents=True)
    (paths.config_dir() / "templates" / "notify-check.yaml").write_text(NOTIFY_TEMPLATE)
    told = tmp_path / "told.log"
    recorder = f"import os; open({str(told)!r}, 'a').write(os.environ['CODER_TUI_EVENT'] + '\\n')"
    paths.config_file().write_text(
        "notifications:\n  desktop: false\n"
        f"  command: [{json.dumps(sys.executable)}, -c, {json.dumps(recorder)}]\n"
    )
    work = tmp_path / "work"
    work.mkdir()

    def events() -> list[str]:
        return told.read_text().split() if told.exists() else []

    connection = await connect(client="test")
    try:
        created = await connection.request(
            lambda i: CreateSession(
                id=i,
                cwd=str(work),
                agents=[AgentSpec(name="worker", profile="scripted")],
                template="notify-check",
                inputs={"task": "write please"},
                env=dict(os.environ),
                headless=True,
            )
        )
        assert isinstance(created, Created)
        await wait_for(lambda: events() == ["approval"], 20, message=lambda: str(events()))
        approved = run_coder_tui("approve", "worker", cwd=work)
        assert approved.returncode == 0, approved.stderr
        await wait_for(lambda: events() == ["approval", "gate"], 20, message=lambda: str(events()))
        from coder_tui.server.protocol import AnswerGate

        await connection.request(lambda i: AnswerGate(id=i, session=created.session, approved=True))
        await wait_for(
            lambda: events() == ["approval", "gate", "run-ended"], 20, message=lambda: str(events())
        )
        run_coder_tui("send", "worker", "crash now", cwd=work)
        await wait_for(
            lambda: events() == ["approval", "gate", "run-ended", "crash"],
            20,
            message=lambda: str(events()),
        )
        assert (work / "note.txt").read_text() == "hi"
    finally:
        await connection.close()


CHILDREN = Path(__file__).resolve().parent.parent / "children"


async def test_two_clients_share_a_pane_and_a_stalled_one_slows_nothing(tmp_path: Path) -> None:
    from coder_tui.client.mirror import SessionMirror
    from coder_tui.server.protocol import Attach, Frame, Hello, Key, Resize, SessionView, encode

    work = tmp_path / "work"
    work.mkdir()
    connection = await connect(client="test")
    created = await connection.request(
        lambda i: CreateSession(
            id=i,
            cwd=str(work),
            commands=[[sys.executable, str(CHILDREN / "flood.py"), "3.0"], ["cat"]],
            env=dict(os.environ),
        )
    )
    assert isinstance(created, Created)
    # A client that attaches and then never reads a byte (a stopped terminal, say).
    _, stalled = await asyncio.open_unix_connection(str(paths.socket_path()))
    stalled.write(encode(Hello(version=1, client="stalled")))
    stalled.write(encode(Attach(id=1, session=created.session)))

    mirrors: list[SessionMirror] = []
    frames: list[list[Frame]] = [[], []]
    clients: list[ServerConnection] = []
    for index in range(2):
        client = await connect(client="test")
        view = await client.request(lambda i: Attach(id=i, session=created.session))
        assert isinstance(view, SessionView)
        mirror = SessionMirror(view)

        def take(message: object, mirror: SessionMirror = mirror, index: int = index) -> None:
            if isinstance(message, Frame):
                frames[index].append(message)
            mirror.apply(message)  # type: ignore[arg-type]

        client.on_event = take
        mirrors.append(mirror)
        clients.append(client)
    flood_pane, cat_pane = (p.pane for p in mirrors[0].view.panes)
    clients[0].send(Resize(pane=flood_pane, cols=90, rows=20))
    clients[0].send(Resize(pane=cat_pane, cols=90, rows=20))
    clients[1].send(Resize(pane=cat_pane, cols=60, rows=15))

    def text(mirror: SessionMirror, pane: int) -> str:
        return "\n".join("".join(r.text for r in row) for row in mirror.panes[pane].lines)

    try:
        # Both clients see the flood end, though a third one reads nothing: the server kept
        # reading the child and sending frames to those who read them.
        for mirror in mirrors:
            await wait_for(lambda m=mirror: "FLOOD-DONE" in text(m, flood_pane), 30)
        assert all(len(f) < 2000 for f in frames), [len(f) for f in frames]  # coalesced
        # The pane takes the size of the client that typed last (as tmux does).
        clients[1].send(Key(pane=cat_pane, key="h", character="h"))
        await wait_for(lambda: mirrors[0].panes[cat_pane].cols == 60, 10)
        await wait_for(lambda: "h" in text(mirrors[0], cat_pane), 10)
        clients[0].send(Key(pane=cat_pane, key="i", character="i"))
        await wait_for(lambda: mirrors[1].panes[cat_pane].cols == 90, 10)
        await wait_for(lambda: "hi" in text(mirrors[1], cat_pane), 10)
    finally:
        stalled.close()
        for client in clients:
            await client.close()
        await connection.close()


ONE_STEP_TEMPLATE = """\
name: one-step
title: One step
category: other
description: One prompt, one reply.
inputs:
  - name: task
roles:
  worker:
    prefer: [scripted]
steps:
  - id: work
    role: worker
    prompt: "{{ inputs.task }}"
"""


async def test_run_detach_hands_the_run_over_and_the_server_leaves_when_it_ends(
    scripted: Path,
) -> None:
    (paths.config_dir() / "templates").mkdir(parents=True, exist_ok=True)
    (paths.config_dir() / "templates" / "one-step.yaml").write_text(ONE_STEP_TEMPLATE)
    handed = run_coder_tui(
        "run",
        "one-step",
        "--task",
        "hello",
        "--agents",
        "worker=scripted",
        "--detach",
        cwd=scripted,
    )
    assert handed.returncode == 0, handed.stderr
    assert "runs in the coder-tui server as session 1" in handed.stdout
    run_id = handed.stdout.split()[1]
    pid = server_pid()
    assert pid is not None and alive(pid)

    def status_of_run() -> str:
        return str(json.loads((paths.runs_dir() / run_id / "run.json").read_text())["status"])

    await wait_for(lambda: status_of_run() == "succeeded", 30, message=status_of_run)
    texts = [m["text"] for m in channel_lines(run_id)]
    assert texts.count("echo: hello") == 1
    # Its session stops with the run; with no agent and no client left, so does the server.
    await wait_for(lambda: not alive(pid), 30)
    assert not paths.socket_path().exists()
