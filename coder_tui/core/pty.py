"""Run a command in a pseudo-terminal and pump its bytes through the asyncio loop.

Why this shape:

* ptyprocess does the fork/setsid/exec dance (and reports exec failures through a pipe),
  but its read/write are blocking and its ``isalive``/``__del__`` reap the child behind
  our back. So we only borrow its master fd and its pid; everything else is ours.
* Reading is ``loop.add_reader`` on the non-blocking master, one ``os.read`` per readiness
  callback: no thread per pane, and a pane that floods output cannot starve the others.
* Bytes are handed on raw. Decoding belongs to the terminal emulator, which sees the
  whole stream; decoding chunk by chunk would split multibyte characters.
* Exit is "the master reached EOF/EIO *and* the child is reaped". A pidfd (Linux) tells
  us promptly when the child died even if a straggler still holds the slave open, so a
  ``nohup``'d grandchild cannot hide the exit forever.
* Closing hangs the terminal up and kills the whole process group, with a grace period,
  and leaves no zombie and no fd behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import select
import shutil
import signal
import struct
import termios
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ptyprocess import PtyProcess

__all__ = ["READ_CHUNK", "CommandNotFoundError", "PtyExit", "PtySession"]

log = logging.getLogger(__name__)

#: Bytes read per readiness callback; one read per callback keeps panes fair.
READ_CHUNK = 64 * 1024
#: After the child died, how long to wait for EOF before reporting the exit anyway (a
#: straggler that ignores SIGHUP can hold the slave open indefinitely).
_EOF_GRACE_AFTER_EXIT = 0.5
#: How long to wait for the kernel to finish off a SIGKILLed child before giving up.
_KILL_REAP_TIMEOUT = 5.0
#: Reads done when the EOF grace ran out, to flush what the child wrote before dying.
_FINAL_DRAIN_READS = 16
#: Python ignores these at startup and SIG_IGN survives exec: reset them for the child,
#: as subprocess does (``restore_signals``), or ``yes | head`` misbehaves in a pane.
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
#: exec errors that mean "this is not something we can run".
_EXEC_NOT_RUNNABLE = {errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR, errno.ELOOP}


class CommandNotFoundError(Exception):
    """argv[0] is missing or not executable; raised by :meth:`PtySession.spawn`."""

    def __init__(self, command: str, hint: str) -> None:
        super().__init__(f"command not found: {command} ({hint})")
        self.command = command


@dataclass(frozen=True)
class PtyExit:
    """How the child ended, as reported to ``on_exit`` and by :meth:`PtySession.wait`."""

    exit_code: int | None
    signal: int | None

    @classmethod
    def from_wait_status(cls, status: int) -> PtyExit:
        """Decode a ``waitpid`` status (we never ask for stopped children)."""
        if os.WIFSIGNALED(status):
            return cls(exit_code=None, signal=os.WTERMSIG(status))
        return cls(exit_code=os.WEXITSTATUS(status), signal=None)

    @property
    def description(self) -> str:
        """Human wording for a pane's status line."""
        if self.exit_code is not None:
            return f"exited with code {self.exit_code}"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return "exited (status unknown)"


class _PtyProcess(PtyProcess):  # type: ignore[misc]  # ptyprocess is untyped
    """ptyprocess without its finaliser: PtySession owns the fd and the child.

    The stock ``__del__`` sleeps 0.1 s, closes the fd and calls ``waitpid`` -- on the
    loop's thread, at an arbitrary GC moment, racing our own reaping.
    """

    def __del__(self) -> None:
        pass


def _log_failure(task: asyncio.Task[None]) -> None:
    """A reaper task that failed would leave an exit unreported: at least say so."""
    if not task.cancelled() and task.exception() is not None:
        log.error("reaping a child failed", exc_info=task.exception())


def _check_size(cols: int, rows: int) -> None:
    if not (0 < cols <= 0xFFFF and 0 < rows <= 0xFFFF):
        raise ValueError(f"invalid terminal size {cols}x{rows}")


def _resolve_command(name: str, path: str, cwd: str | None) -> str:
    """Find argv[0] the way the child will: via the child's PATH, relative to its cwd."""
    if os.sep in name:
        candidate = name if os.path.isabs(name) or cwd is None else os.path.join(cwd, name)
        found = shutil.which(candidate)
        hint = "no executable file at that path"
    else:
        found = shutil.which(name, path=path)
        hint = "is it installed and on PATH?"
    if found is None:
        raise CommandNotFoundError(name, hint)
    return os.path.abspath(found)


def _child_setup(workdir: str | None) -> None:
    """Runs in the forked child just before exec; errors are reported by ptyprocess."""
    for signum in _RESET_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    if workdir is not None:
        # chdir here rather than via ptyprocess's cwd=: its chdir is outside the error
        # pipe, so a failure would raise *in the forked child* and run our caller's code.
        os.chdir(workdir)


def _discard_failed_spawn(proc: Any) -> None:
    """Clean up after a child whose setup or exec failed (it has already _exit()ed)."""
    with contextlib.suppress(OSError):
        proc.fileobj.close()
    proc.closed = True
    proc.fd = -1
    with contextlib.suppress(ChildProcessError):
        os.waitpid(proc.pid, 0)
    proc.terminated = True


def _group_exists(pgid: int) -> bool:
    """Whether any process is left in the group (checked right after reaping its leader,
    when the id cannot have been reused yet)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a group that is not ours
        return False
    return True


def _open_pidfd(pid: int) -> int:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, old kernel, or seccomp said no
        return -1


class PtySession:
    """One child process on one PTY, driven by callbacks from the asyncio loop."""

    def __init__(self, proc: Any, argv: Sequence[str], cols: int, rows: int) -> None:
        """Use :meth:`spawn`; this only adopts an already spawned ptyprocess child."""
        self._proc = proc
        self.pid: int = proc.pid
        self.argv: tuple[str, ...] = tuple(argv)
        self.cols = cols
        self.rows = rows
        self._fd: int = proc.fd
        os.set_blocking(self._fd, False)
        # pty.fork() leaves the master inheritable: other panes' children must not get it.
        os.set_inheritable(self._fd, False)
        self._pidfd = _open_pidfd(self.pid)
        self._pidfd_loop: asyncio.AbstractEventLoop | None = None

        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_data: Callable[[bytes], None] | None = None
        self._on_exit: Callable[[PtyExit], None] | None = None
        self._reading = False
        self._eof = False
        self._eof_timer: asyncio.TimerHandle | None = None
        self._reap_task: asyncio.Task[None] | None = None
        self._exit: PtyExit | None = None
        self._exit_reported = False
        # Whether the child's process group may still have members worth signalling.
        # Becomes False when the leader is reaped with nobody left in the group: from
        # then on the pgid is free for reuse and must never be signalled again.
        self._group_alive = True
        self._exit_waiters: list[asyncio.Future[None]] = []

        self._wbuf = bytearray()
        self._writing = False
        self._drain_waiters: list[asyncio.Future[None]] = []

        self._close_future: asyncio.Future[PtyExit] | None = None
        self._closed = False

    # ------------------------------------------------------------------ spawning

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        env_unset: Sequence[str] = (),
        cols: int = 80,
        rows: int = 24,
    ) -> PtySession:
        """Start ``argv`` on a new PTY of ``cols`` x ``rows``; does not start reading.

        env is merged over os.environ; TERM=xterm-256color and COLORTERM=truecolor are
        always set (env may override); names in env_unset are removed. The child gets its own
        session and process group (ptyprocess does setsid), so close() can kill everything it
        started.
        """
        args = [str(a) for a in argv]
        if not args:
            raise ValueError("argv must not be empty")
        _check_size(cols, rows)
        full_env = dict(os.environ)
        full_env.update(TERM="xterm-256color", COLORTERM="truecolor")
        if env:
            full_env.update(env)
        for name in env_unset:
            full_env.pop(name, None)
        workdir = None
        if cwd is not None:
            workdir = os.fspath(cwd)
            if not os.path.isdir(workdir):
                raise FileNotFoundError(errno.ENOENT, "working directory does not exist", workdir)
        name = args[0]
        args[0] = _resolve_command(name, full_env.get("PATH", os.defpath), workdir)

        # ptyprocess raises for a failed exec without cleaning up the child it forked;
        # remember the instance so we can reap it and close its fd ourselves.
        created: list[Any] = []

        class _Tracked(_PtyProcess):
            def __init__(self, pid: int, fd: int) -> None:
                super().__init__(pid, fd)
                created.append(self)

        try:
            proc = _Tracked.spawn(
                args,
                env=full_env,
                dimensions=(rows, cols),
                preexec_fn=functools.partial(_child_setup, workdir),
            )
        except BaseException as exc:
            for p in created:
                _discard_failed_spawn(p)
            if isinstance(exc, OSError):
                if not created and isinstance(exc, FileNotFoundError):
                    # ptyprocess's own which() lost a race with a deleted file.
                    raise CommandNotFoundError(name, "is it installed and on PATH?") from exc
                if exc.errno in _EXEC_NOT_RUNNABLE:
                    raise CommandNotFoundError(name, f"exec failed: {exc}") from exc
            raise
        log.debug("spawned pid %d: %r", proc.pid, args)
        return cls(proc, args, cols, rows)

    # ------------------------------------------------------------------ state

    @property
    def running(self) -> bool:
        """True until the child has been reaped (checks without blocking)."""
        return self._try_reap() is None

    @property
    def exit(self) -> PtyExit | None:
        """How the child ended, once it has been reaped."""
        return self._try_reap()

    @property
    def pending_write_bytes(self) -> int:
        """Bytes queued by write() that the kernel has not taken yet."""
        return len(self._wbuf)

    # ------------------------------------------------------------------ reading

    def start(
        self,
        on_data: Callable[[bytes], None],
        on_exit: Callable[[PtyExit], None],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Begin reading on the (running) loop.

        on_data gets raw bytes, never decoded, one ``os.read`` of up to READ_CHUNK per
        readiness callback so several panes share the loop fairly. At EOF/EIO the reader
        is removed, the child reaped, and on_exit called exactly once (also when the
        session ends through close()).
        """
        if self._on_exit is not None:
            raise RuntimeError("PtySession.start() called twice")
        if self._fd < 0:
            raise RuntimeError("PtySession is closed")
        loop = loop or self._loop or asyncio.get_running_loop()
        self._loop = loop
        self._on_data = on_data
        self._on_exit = on_exit
        loop.add_reader(self._fd, self._on_readable)
        self._reading = True
        self._watch_exit(loop)
        if self._exit is not None:  # already reaped (wait() before start()): EOF may never come
            self._eof_timer = loop.call_later(_EOF_GRACE_AFTER_EXIT, self._on_eof_timeout)
        if self._wbuf:
            self._ensure_writer()

    def _on_readable(self) -> None:
        if self._fd < 0:
            return
        try:
            data = os.read(self._fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO is Linux for "slave side closed"
                log.warning("pid %d: read from pty failed: %s", self.pid, exc)
            data = b""
        if not data:
            self._on_eof()
            return
        if self._on_data is not None:
            self._on_data(data)

    def _on_eof(self) -> None:
        self._eof = True
        self._stop_reading()
        self._cancel_eof_timer()
        self._drop_writes()
        if self._try_reap() is None and self._pidfd_loop is None:
            # No pidfd to tell us: poll briefly (the child normally exits right after
            # closing the slave, so this is a few milliseconds).
            loop = self._loop
            if loop is not None and not loop.is_closed() and self._reap_task is None:
                self._reap_task = loop.create_task(self._reap_then_finish())
                self._reap_task.add_done_callback(_log_failure)
        self._maybe_report_exit()

    async def _reap_then_finish(self) -> None:
        await self._wait_reaped(None)
        self._maybe_report_exit()

    def _on_child_exited(self) -> None:
        """pidfd readable: the child is dead (its output may still be in the pty)."""
        self._release_pidfd()
        self._try_reap()
        self._wake(self._exit_waiters)
        loop = self._loop
        if not self._eof and self._reading and loop is not None:
            # Normally EOF follows as soon as we have read what is buffered. If a
            # straggler holds the slave open, report the exit after a short grace.
            self._eof_timer = loop.call_later(_EOF_GRACE_AFTER_EXIT, self._on_eof_timeout)
        self._maybe_report_exit()

    def _on_eof_timeout(self) -> None:
        self._eof_timer = None
        for _ in range(_FINAL_DRAIN_READS):
            if not self._reading:
                return
            try:
                data = os.read(self._fd, READ_CHUNK)
            except OSError:  # EAGAIN (nothing left) or EIO (EOF after all)
                break
            if not data:
                break
            if self._on_data is not None:
                self._on_data(data)
        if self._reading:
            log.debug("pid %d exited but its pty stays open; reporting exit", self.pid)
            self._on_eof()

    def _maybe_report_exit(self) -> None:
        if self._exit_reported or self._on_exit is None or not self._eof:
            return
        if self._exit is None:
            return
        self._exit_reported = True
        try:
            self._on_exit(self._exit)
        except Exception:
            log.exception("pid %d: on_exit callback failed", self.pid)

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes) -> None:
        """Queue bytes for the child; never blocks the loop.

        Writes what the kernel takes now and the rest via ``loop.add_writer`` when the fd
        is writable again; order is preserved. Bytes written after the child went away are
        dropped (there is no one to read them).
        """
        if not data:
            return
        if self._fd < 0 or self._eof or self._exit is not None:
            log.debug("pid %d: dropping %d bytes, child is gone", self.pid, len(data))
            return
        if self._wbuf:
            self._wbuf += data
            return
        try:
            n = os.write(self._fd, data)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self._write_failed(exc)
            return
        if n < len(data):
            self._wbuf += memoryview(data)[n:]
            self._ensure_writer()

    async def drain(self) -> None:
        """Back-pressure: wait until everything queued is written (or the child is gone)."""
        if not self._wbuf:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._drain_waiters:
                self._drain_waiters.remove(fut)

    def _ensure_writer(self) -> None:
        if self._writing:
            return
        loop = self._loop
        if loop is None:
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet: start() will flush the queue
        loop.add_writer(self._fd, self._on_writable)
        self._writing = True

    def _on_writable(self) -> None:
        if self._fd < 0:
            return
        try:
            n = os.write(self._fd, self._wbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._write_failed(exc)
            return
        del self._wbuf[:n]
        if not self._wbuf:
            self._stop_writing()
            self._wake(self._drain_waiters)

    def _write_failed(self, exc: OSError) -> None:
        if exc.errno != errno.EIO:
            log.warning("pid %d: write to pty failed: %s", self.pid, exc)
        self._drop_writes()

    def _drop_writes(self) -> None:
        self._stop_writing()
        self._wbuf.clear()
        self._wake(self._drain_waiters)

    # ------------------------------------------------------------------ resizing

    def resize(self, cols: int, rows: int) -> None:
        """Set the window size (TIOCSWINSZ); the kernel sends SIGWINCH to the fg group.

        A no-op once the child has exited or the session is closed.
        """
        _check_size(cols, rows)
        if self._fd < 0 or self._exit is not None:
            return
        try:
            fcntl.ioctl(self._fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        except OSError as exc:
            log.debug("pid %d: resize failed: %s", self.pid, exc)
            return
        self.cols, self.rows = cols, rows

    # ------------------------------------------------------------------ exit

    async def wait(self) -> PtyExit:
        """Wait until the child has exited and been reaped.

        Does not read: a child blocked on a full pty never exits unless start() was called.
        """
        await self._wait_reaped(None)
        assert self._exit is not None
        return self._exit

    async def close(self, grace: float = 1.0) -> PtyExit:
        """Hang up, kill the whole process group, reap, release everything. Idempotent.

        The master is closed first (a terminal hang-up: the child's writes fail instead of
        blocking on a pty nobody reads), then SIGHUP + SIGTERM go to the group; after up to
        ``grace`` seconds, SIGKILL to the group (stragglers included). If cancelled, or the
        loop is going away, it finishes synchronously via :meth:`close_now`.
        """
        if self._closed:
            return self._result()
        if self._close_future is not None and not self._close_future.done():
            return await asyncio.shield(self._close_future)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PtyExit] = loop.create_future()
        self._close_future = fut
        try:
            result = await self._close(grace)
        except BaseException:
            try:
                self.close_now()
            finally:
                fut.set_result(self._result())
            raise
        fut.set_result(result)
        return result

    async def _close(self, grace: float) -> PtyExit:
        self._shutdown_io()
        if self._try_reap() is None:
            self._signal_group(signal.SIGHUP, signal.SIGTERM, signal.SIGCONT)
            await self._wait_reaped(grace)
        self._signal_group(signal.SIGKILL)
        if self._exit is None and not await self._wait_reaped(_KILL_REAP_TIMEOUT):
            log.warning("pid %d did not die after SIGKILL", self.pid)
        return self._finish_close()

    def close_now(self) -> PtyExit:
        """Synchronous close for non-async shutdown paths: SIGKILL the group, reap, close."""
        if self._closed:
            return self._result()
        self._shutdown_io()
        self._signal_group(signal.SIGKILL)
        if self._exit is None and not self._wait_reaped_blocking(_KILL_REAP_TIMEOUT):
            log.warning("pid %d did not die after SIGKILL", self.pid)
        return self._finish_close()

    def _finish_close(self) -> PtyExit:
        self._release_pidfd()
        self._wake(self._exit_waiters)
        self._maybe_report_exit()
        self._closed = self._exit is not None  # if the child would not die, allow a retry
        return self._result()

    def _result(self) -> PtyExit:
        return self._exit or PtyExit(exit_code=None, signal=None)

    def _shutdown_io(self) -> None:
        """Stop all loop callbacks, then close the master (order matters: a closed fd
        still registered with the selector would break the next pane that reuses it)."""
        self._eof = True
        self._stop_reading()
        self._cancel_eof_timer()
        self._drop_writes()
        if self._reap_task is not None:
            self._reap_task.cancel()
            self._reap_task = None
        if self._fd >= 0:
            self._fd = -1
            # Close through ptyprocess's file object, which owns the fd: closing the raw
            # fd behind its back would let its FileIO close a reused fd number later.
            with contextlib.suppress(OSError):
                self._proc.fileobj.close()
            self._proc.closed = True
            self._proc.fd = -1

    def _signal_group(self, *signums: int) -> None:
        # The child is a session leader, so its pgid is its pid. Once it is reaped, the
        # pgid stays reserved only while stragglers remain in the group.
        if not self._group_alive:
            return
        for signum in signums:
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                return
            except PermissionError as exc:
                log.warning("pid %d: cannot signal process group: %s", self.pid, exc)
                return

    # ------------------------------------------------------------------ reaping

    def _try_reap(self) -> PtyExit | None:
        """Non-blocking waitpid; records the status the first time it is available."""
        if self._exit is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                # Someone else reaped our child (a waitpid(-1) SIGCHLD handler): the
                # status is lost, but the child is certainly gone.
                self._set_exit(PtyExit(exit_code=None, signal=None))
            else:
                if pid != 0:
                    self._set_exit(PtyExit.from_wait_status(status))
        return self._exit

    def _set_exit(self, result: PtyExit) -> None:
        self._exit = result
        self._group_alive = _group_exists(self.pid)
        # Keep ptyprocess's view consistent so nothing in it ever waitpid()s again.
        self._proc.terminated = True
        self._proc.exitstatus = result.exit_code
        self._proc.signalstatus = result.signal
        self._release_pidfd()
        self._drop_writes()
        self._wake(self._exit_waiters)
        log.debug("pid %d %s", self.pid, result.description)
        # Reaping can happen outside loop callbacks (the ``running`` property): report
        # from the loop, never from inside the caller's property access.
        loop = self._loop
        if self._on_exit is not None and loop is not None and not loop.is_closed():
            loop.call_soon(self._maybe_report_exit)

    async def _wait_reaped(self, limit: float | None) -> bool:
        """True once reaped, False after ``limit`` s. Woken by the pidfd, else polls."""
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit
        poll = 0.001
        while self._try_reap() is None:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            self._watch_exit(loop)
            step = remaining
            if self._pidfd_loop is not loop:
                step = poll if remaining is None else min(poll, remaining)
                poll = min(poll * 2, 0.05)
            fut: asyncio.Future[None] = loop.create_future()
            self._exit_waiters.append(fut)
            try:
                await asyncio.wait((fut,), timeout=step)
            finally:
                if fut in self._exit_waiters:
                    self._exit_waiters.remove(fut)
                fut.cancel()
        return True

    def _wait_reaped_blocking(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        poll = 0.001
        while self._try_reap() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._pidfd >= 0:  # poll(), not select(): fds may be >= FD_SETSIZE
                poller = select.poll()
                poller.register(self._pidfd, select.POLLIN)
                poller.poll(max(1, int(remaining * 1000)))
            else:
                time.sleep(min(poll, remaining))
                poll = min(poll * 2, 0.05)
        return True

    def _watch_exit(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pidfd >= 0 and self._pidfd_loop is None and self._exit is None:
            loop.add_reader(self._pidfd, self._on_child_exited)
            self._pidfd_loop = loop

    def _release_pidfd(self) -> None:
        if self._pidfd < 0:
            return
        loop, self._pidfd_loop = self._pidfd_loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1

    # ------------------------------------------------------------------ helpers

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._fd)

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_writer(self._fd)

    def _cancel_eof_timer(self) -> None:
        if self._eof_timer is not None:
            self._eof_timer.cancel()
            self._eof_timer = None

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        waiters.clear()

    def __repr__(self) -> str:
        state = self._exit.description if self._exit else "running"
        return f"<PtySession pid={self.pid} {self.argv[0]!r} {self.cols}x{self.rows} {state}>"

    def __del__(self) -> None:
        # Loop callbacks hold references, so this only runs for a session that was never
        # started or whose callbacks are gone. Last resort: do not leak the child or fd.
        if not hasattr(self, "_closed") or self._closed:
            return  # __init__ failed early, or closed properly
        if self._fd < 0 and self._exit is not None:
            return
        warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=1)
        self._on_exit = None  # no callbacks from a finaliser
        with contextlib.suppress(Exception):
            self.close_now()
