"""PtySession against real processes on real PTYs: no mocks, no bare sleeps.

Children are small ``python -c`` scripts (or coreutils) whose behaviour is known; the
tests wait on conditions with deadlines (the ``wait_for`` fixture from conftest).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coder_tui.core import pty as pty_module
from coder_tui.core.pty import CommandNotFoundError, PtyExit, PtySession

PY = sys.executable
WaitFor = Callable[..., Awaitable[None]]


class Collector:
    """Records what a session reports through its callbacks."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.chunks = 0
        self.exits: list[PtyExit] = []

    def on_data(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.data += data
        self.chunks += 1

    def on_exit(self, result: PtyExit) -> None:
        self.exits.append(result)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


Spawner = Callable[..., tuple[PtySession, Collector]]


@pytest.fixture
async def spawn() -> AsyncIterator[Spawner]:
    """Spawn-and-start helper; whatever a test leaves running is closed afterwards."""
    sessions: list[PtySession] = []

    def _spawn(argv: list[str], **kwargs: Any) -> tuple[PtySession, Collector]:
        session = PtySession.spawn(argv, **kwargs)
        sessions.append(session)
        collector = Collector()
        session.start(collector.on_data, collector.on_exit)
        return session, collector

    yield _spawn
    for session in sessions:
        await session.close(grace=0.2)


def py(code: str, *args: str) -> list[str]:
    return [PY, "-c", code, *args]


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def assert_no_zombie_children() -> None:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return
    assert pid == 0, f"reaped a leftover zombie child {pid}"


def gone(pid: int) -> bool:
    """The process no longer runs: absent, or a zombie that is not ours to reap.

    (PID 1 in some containers never reaps orphans, so a killed grandchild can stay a
    zombie of init forever; that is not a leak of ours.)
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return True
    state, ppid = fields[0], int(fields[1])
    return state == "Z" and ppid != os.getpid()


def controlling_tty(pid: int) -> int:
    """tty_nr from /proc/PID/stat: 0 once the terminal has been hung up."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[4])


class Ticker:
    """A concurrent task that records how regularly the loop lets it run."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.ticks: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.ticks.append(time.monotonic())
            await asyncio.sleep(self.interval)

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.ticks.append(time.monotonic())

    @property
    def max_gap(self) -> float:
        return max(b - a for a, b in zip(self.ticks, self.ticks[1:], strict=False))


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail if a test leaves an fd open or a zombie child behind."""
    before = fd_count()
    yield
    assert_no_zombie_children()
    assert fd_count() == before


# --------------------------------------------------------------------------- output


async def test_output_bytes_pass_through_exactly(spawn: Spawner, wait_for: WaitFor) -> None:
    # Invalid UTF-8, and a multibyte char split across two separate writes.
    parts = [b"plain \xff\xfe bad,", b" euro \xe2\x82", b"\xac caf\xc3", b"\xa9 end"]
    code = (
        "import os, sys, time\n"
        "for p in sys.argv[1:]:\n"
        "    os.write(1, bytes.fromhex(p)); time.sleep(0.02)\n"
    )
    session, out = spawn(py(code, *(p.hex() for p in parts)))
    await wait_for(lambda: out.exits, message=lambda: repr(bytes(out.data)))
    assert bytes(out.data) == b"".join(parts)
    assert out.exits == [PtyExit(exit_code=0, signal=None)]
    assert await session.close() == PtyExit(0, None)
    assert out.exits == [PtyExit(0, None)], "on_exit must be called exactly once"


async def test_printf_raw_bytes(spawn: Spawner, wait_for: WaitFor) -> None:
    _session, out = spawn(["printf", r"A\377\303\251Z"])
    await wait_for(lambda: out.exits)
    assert bytes(out.data) == b"A\xff\xc3\xa9Z"
    assert out.exits[0].description == "exited with code 0"


async def test_exit_code_propagates(spawn: Spawner, wait_for: WaitFor) -> None:
    session, out = spawn(py("import sys; sys.exit(3)"))
    await wait_for(lambda: out.exits)
    assert out.exits == [PtyExit(exit_code=3, signal=None)]
    assert not session.running
    assert session.exit == PtyExit(3, None)
    assert await session.wait() == PtyExit(3, None)
    assert out.exits[0].description == "exited with code 3"


async def test_killed_by_signal_is_reported(spawn: Spawner, wait_for: WaitFor) -> None:
    _session, out = spawn(py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    await wait_for(lambda: out.exits)
    assert out.exits == [PtyExit(exit_code=None, signal=signal.SIGKILL)]
    assert out.exits[0].description == "killed by SIGKILL"


async def test_wait_without_start_reaps() -> None:
    session = PtySession.spawn(["true"])
    assert await asyncio.wait_for(session.wait(), 5) == PtyExit(0, None)
    assert not session.running
    await session.close()


# --------------------------------------------------------------------------- env, cwd, size


async def test_env_and_cwd(spawn: Spawner, wait_for: WaitFor, tmp_path: Path) -> None:
    code = (
        "import os; e = os.environ\n"
        "print('|'.join([e['TERM'], e['COLORTERM'], e['FOO'], os.getcwd()]) + '|')"
    )
    workdir = str(tmp_path)  # pytest's tmp_path is already resolved
    _session, out = spawn(py(code), env={"FOO": "bar baz"}, cwd=workdir)
    await wait_for(lambda: out.exits)
    assert out.text.strip() == f"xterm-256color|truecolor|bar baz|{workdir}|"


async def test_env_may_override_term(spawn: Spawner, wait_for: WaitFor) -> None:
    _session, out = spawn(py("import os; print(os.environ['TERM'])"), env={"TERM": "dumb"})
    await wait_for(lambda: out.exits)
    assert out.text.strip() == "dumb"


async def test_env_unset_removes_inherited_variables(
    spawn: Spawner, wait_for: WaitFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("KEPT", "yes")
    code = "import os; print(os.environ.get('CI', '<unset>'), os.environ['KEPT'])"
    _session, out = spawn(py(code), env_unset=["CI"])
    await wait_for(lambda: out.exits)
    assert out.text.strip() == "<unset> yes"


async def test_command_is_looked_up_on_the_child_path(
    spawn: Spawner, wait_for: WaitFor, tmp_path: Path
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "my-tool"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    with pytest.raises(CommandNotFoundError):
        PtySession.spawn(["my-tool"])
    _session, out = spawn(["my-tool"], env={"PATH": f"{bindir}:/usr/bin:/bin"})
    await wait_for(lambda: out.exits)
    assert out.text.strip() == "tool ran"


async def test_signals_ignored_by_python_are_reset_for_the_child(
    spawn: Spawner, wait_for: WaitFor
) -> None:
    # Python ignores SIGPIPE and SIG_IGN survives exec; `yes | head` needs the default.
    _session, out = spawn(["cat", "/proc/self/status"])
    await wait_for(lambda: out.exits)
    match = re.search(r"SigIgn:\s*([0-9a-f]+)", out.text)
    assert match, out.text
    ignored = int(match.group(1), 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


async def test_stty_sees_spawn_size(spawn: Spawner, wait_for: WaitFor) -> None:
    _session, out = spawn(["stty", "size"], cols=100, rows=30)
    await wait_for(lambda: out.exits)
    assert out.text.strip() == "30 100"


async def test_resize_reaches_child_with_sigwinch(spawn: Spawner, wait_for: WaitFor) -> None:
    code = (
        "import os, signal\n"
        "def size(): c, r = os.get_terminal_size(0); return f'{c}x{r}'\n"
        "signal.signal(signal.SIGWINCH, lambda *a: os.write(1, f'WINCH {size()}\\n'.encode()))\n"
        "os.write(1, f'SIZE {size()}\\n'.encode())\n"
        "while True: signal.pause()\n"
    )
    session, out = spawn(py(code), cols=80, rows=24)
    await wait_for(lambda: "SIZE" in out.text, message=lambda: out.text)
    assert "SIZE 80x24" in out.text
    session.resize(132, 43)
    assert (session.cols, session.rows) == (132, 43)
    await wait_for(lambda: "WINCH" in out.text, message=lambda: out.text)
    assert "WINCH 132x43" in out.text
    await session.close()
    session.resize(90, 20)  # no-op after exit
    assert (session.cols, session.rows) == (132, 43)


# --------------------------------------------------------------------------- writing

RAW_ECHO_HEX = (
    "import os, sys, tty\n"
    "tty.setraw(0)\n"
    "n = int(sys.argv[1]); buf = b''\n"
    "os.write(1, b'READY\\n')\n"
    "while len(buf) < n: buf += os.read(0, 4096)\n"
    "os.write(1, b'HEX ' + buf.hex().encode() + b'\\n')\n"
)


async def test_write_reaches_child_exactly(spawn: Spawner, wait_for: WaitFor) -> None:
    # Control characters that a cooked tty would act on (^C ^D ^Z, CR) must pass untouched.
    payload = b"\x00\x03\x04\x1a\r\n\x7f\xff\xfe\x1b[A caf\xc3\xa9 \x11\x13"
    session, out = spawn(py(RAW_ECHO_HEX, str(len(payload))))
    await wait_for(lambda: b"READY" in out.data)
    session.write(payload[:5])
    session.write(payload[5:])
    await session.drain()
    await wait_for(lambda: out.exits, message=lambda: repr(bytes(out.data)))
    match = re.search(rb"HEX ([0-9a-f]*)", bytes(out.data))
    assert match, bytes(out.data)
    assert bytes.fromhex(match.group(1).decode()) == payload
    assert out.exits == [PtyExit(0, None)]


async def test_large_write_drains_in_order_without_blocking_loop(
    spawn: Spawner, wait_for: WaitFor
) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value, order-sensitive
    code = (
        "import hashlib, os, sys, time, tty\n"
        "tty.setraw(0)\n"
        "n = int(sys.argv[1]); h = hashlib.sha256(); got = 0\n"
        "os.write(1, b'READY\\n')\n"
        "while got < n:\n"
        "    b = os.read(0, 4096); h.update(b); got += len(b)\n"
        "    time.sleep(0.001)\n"  # a slow reader
        "os.write(1, f'DONE {got} {h.hexdigest()}\\n'.encode())\n"
    )
    session, out = spawn(py(code, str(len(payload))))
    await wait_for(lambda: b"READY" in out.data)
    with Ticker() as ticker:
        started = time.monotonic()
        session.write(payload)
        assert time.monotonic() - started < 0.05, "write() must not block"
        assert session.pending_write_bytes > 0, "a slow child cannot take 1 MiB at once"
        await asyncio.wait_for(session.drain(), 30)
        assert session.pending_write_bytes == 0
        await wait_for(lambda: b"DONE" in out.data, 30)
    assert f"DONE {len(payload)} {hashlib.sha256(payload).hexdigest()}" in out.text
    assert len(ticker.ticks) > 10
    assert ticker.max_gap < 0.1, f"loop stalled for {ticker.max_gap:.3f}s"


async def test_write_after_exit_is_dropped(spawn: Spawner, wait_for: WaitFor) -> None:
    session, out = spawn(["true"])
    await wait_for(lambda: out.exits)
    session.write(b"nobody is listening\n")
    await asyncio.wait_for(session.drain(), 1)
    assert session.pending_write_bytes == 0


# --------------------------------------------------------------------------- closing

GRANDCHILD = 'sleep 1000 & echo "GRAND $!"; wait'


async def test_close_kills_whole_process_group(spawn: Spawner, wait_for: WaitFor) -> None:
    session, out = spawn(["bash", "-c", GRANDCHILD])
    await wait_for(lambda: re.search(r"GRAND \d+", out.text), message=lambda: out.text)
    match = re.search(r"GRAND (\d+)", out.text)
    assert match
    grandchild = int(match.group(1))
    assert os.getpgid(grandchild) == session.pid  # same group as the child
    result = await session.close(grace=1.0)
    assert result.signal in (signal.SIGHUP, signal.SIGTERM)
    assert out.exits == [result]
    assert gone(session.pid)
    await wait_for(lambda: gone(grandchild), message=f"grandchild {grandchild} survived")
    assert_no_zombie_children()


async def test_close_sigkills_a_child_that_ignores_term_and_hup(
    spawn: Spawner, wait_for: WaitFor
) -> None:
    code = (
        "import os, signal\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "os.write(1, b'READY\\n')\n"
        "while True: signal.pause()\n"
    )
    session, out = spawn(py(code))
    await wait_for(lambda: b"READY" in out.data)
    started = time.monotonic()
    result = await session.close(grace=0.3)
    elapsed = time.monotonic() - started
    assert result == PtyExit(exit_code=None, signal=signal.SIGKILL)
    assert 0.25 <= elapsed < 3.0
    assert out.exits == [result]
    assert gone(session.pid)


async def test_close_is_idempotent_and_concurrent(spawn: Spawner, wait_for: WaitFor) -> None:
    session, out = spawn(["cat"])
    first, second = await asyncio.gather(session.close(), session.close())
    assert first == second
    assert first.signal == signal.SIGHUP  # the hang-up alone ends `cat`
    assert await session.close() == first
    assert session.close_now() == first
    assert out.exits == [first]


async def test_close_now_is_synchronous(no_leaks: None) -> None:
    session = PtySession.spawn(["sleep", "1000"])
    out = Collector()
    session.start(out.on_data, out.on_exit)
    result = session.close_now()
    # Closing the master is a hang-up: the kernel's SIGHUP may beat our SIGKILL.
    assert result.signal in (signal.SIGHUP, signal.SIGKILL)
    assert out.exits == [result]
    assert not session.running


async def test_cancelled_close_still_cleans_up(wait_for: WaitFor, no_leaks: None) -> None:
    code = (
        "import os, signal\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "os.write(1, b'READY\\n')\n"
        "while True: signal.pause()\n"
    )
    session = PtySession.spawn(py(code))
    out = Collector()
    session.start(out.on_data, out.on_exit)
    await wait_for(lambda: b"READY" in out.data)
    assert controlling_tty(session.pid) != 0
    task = asyncio.create_task(session.close(grace=30))
    # close() has hung up the terminal and is now inside its grace period.
    await wait_for(lambda: controlling_tty(session.pid) == 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not session.running
    assert out.exits == [session.exit]


async def test_exit_reported_when_a_straggler_holds_the_pty(
    spawn: Spawner, wait_for: WaitFor
) -> None:
    # The child exits, but a grandchild that ignores SIGHUP keeps the slave open, so the
    # master never reads EOF: the exit must still be reported, and close() kills it.
    script = "trap '' HUP; sleep 1000 & echo \"GRAND $!\"; exit 5"
    session, out = spawn(["bash", "-c", script])
    await wait_for(lambda: out.exits, message=lambda: out.text)
    assert out.exits == [PtyExit(5, None)]
    match = re.search(r"GRAND (\d+)", out.text)
    assert match
    grandchild = int(match.group(1))
    assert not gone(grandchild)
    await session.close(grace=0.2)
    await wait_for(lambda: gone(grandchild), message=f"straggler {grandchild} survived")
    assert out.exits == [PtyExit(5, None)]


async def test_no_fd_or_zombie_leak_over_many_sessions(wait_for: WaitFor) -> None:
    warm = PtySession.spawn(["true"])  # let lazy imports / first-use allocations happen
    await warm.wait()
    await warm.close()
    before = fd_count()
    sessions = [PtySession.spawn(["cat"]) for _ in range(20)]
    outs = [Collector() for _ in sessions]
    for session, out in zip(sessions, outs, strict=True):
        session.start(out.on_data, out.on_exit)
        session.write(b"hello\n")
    await wait_for(lambda: all(b"hello" in o.data for o in outs))
    assert fd_count() > before
    await asyncio.gather(*(s.close() for s in sessions[::2]))
    for session in sessions[1::2]:
        session.close_now()
    assert all(len(o.exits) == 1 for o in outs)
    assert fd_count() == before
    assert_no_zombie_children()
    assert all(gone(s.pid) for s in sessions)


async def test_flooding_child_does_not_freeze_loop(spawn: Spawner, wait_for: WaitFor) -> None:
    code = "import os\nb = os.urandom(65536)\nwhile True: os.write(1, b)\n"
    session = PtySession.spawn(py(code))
    received = 0
    exits: list[PtyExit] = []

    def on_data(data: bytes) -> None:
        nonlocal received
        received += len(data)

    session.start(on_data, exits.append)
    with Ticker() as ticker:
        deadline = time.monotonic() + 1.0
        await wait_for(lambda: time.monotonic() >= deadline, 5)
    assert ticker.max_gap < 0.1, f"loop stalled for {ticker.max_gap:.3f}s"
    assert received > 1_000_000, received
    result = await session.close(grace=1.0)
    assert result.signal is not None or result.exit_code is not None
    assert exits == [result]
    assert not session.running


# --------------------------------------------------------------------------- errors


def test_missing_command_raises(no_leaks: None) -> None:
    with pytest.raises(CommandNotFoundError, match="command not found: no-such-cmd-xyz"):
        PtySession.spawn(["no-such-cmd-xyz", "--help"])


def test_non_executable_file_raises(tmp_path: Path, no_leaks: None) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(CommandNotFoundError, match=re.escape(str(script))):
        PtySession.spawn([str(script)])


def test_exec_failure_is_cleaned_up(tmp_path: Path, no_leaks: None) -> None:
    # Executable bit set but the interpreter does not exist: exec itself fails (ENOENT)
    # after the fork, and the forked child must be reaped and its fd closed.
    script = tmp_path / "bad-shebang"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    with pytest.raises(CommandNotFoundError, match="bad-shebang"):
        PtySession.spawn([str(script)])


def test_missing_cwd_raises(tmp_path: Path, no_leaks: None) -> None:
    with pytest.raises(FileNotFoundError, match="working directory"):
        PtySession.spawn(["true"], cwd=tmp_path / "missing")


def test_bad_size_raises() -> None:
    with pytest.raises(ValueError, match="size"):
        PtySession.spawn(["true"], cols=0)


def test_exit_descriptions() -> None:
    assert PtyExit(0, None).description == "exited with code 0"
    assert PtyExit(None, signal.SIGTERM).description == "killed by SIGTERM"
    assert PtyExit(None, 99).description == "killed by signal 99"
    assert PtyExit(None, None).description == "exited (status unknown)"


async def test_works_without_pidfd(
    monkeypatch: pytest.MonkeyPatch, spawn: Spawner, wait_for: WaitFor
) -> None:
    # Kernels/sandboxes without pidfd_open fall back to polling for the reap.
    monkeypatch.setattr(pty_module, "_open_pidfd", lambda pid: -1)
    _session, out = spawn(py("import sys; print('hi'); sys.exit(4)"))
    await wait_for(lambda: out.exits)
    assert out.exits == [PtyExit(4, None)]
    other, _ = spawn(["sleep", "1000"])
    assert (await other.close(grace=0.5)).signal == signal.SIGHUP
