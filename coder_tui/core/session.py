"""A child program in a PTY together with the screen it draws on.

This is the unit a pane shows and, later, an agent drives: bytes from the PTY go to the
emulator, the emulator's answers to device queries go back to the PTY (a CLI that asks for the
cursor position or the background colour would otherwise wait), and a resize changes both.
It knows nothing of Textual; the UI subscribes to ``on_output`` and ``on_exit``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence

from coder_tui.core.emulator import Rgb, Screen
from coder_tui.core.keys import parse_key
from coder_tui.core.pty import CommandNotFoundError, PtyExit, PtySession

OutputListener = Callable[[], None]
ExitListener = Callable[[PtyExit | None], None]


class TerminalSession:
    """One child, one screen. Create, then :meth:`start` on the running event loop."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        env_unset: Sequence[str] = (),
        cols: int = 80,
        rows: int = 24,
        scrollback_lines: int = 10_000,
        default_fg: Rgb | None = None,
        default_bg: Rgb | None = None,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env) if env else None
        self.env_unset = tuple(env_unset)
        self.screen = Screen(
            cols,
            rows,
            scrollback_lines=scrollback_lines,
            on_reply=self._reply,
            default_fg=default_fg,
            default_bg=default_bg,
        )
        self.pty: PtySession | None = None
        self.error: str | None = None
        self.exit: PtyExit | None = None
        self.bytes_received = 0
        self._output_listeners: list[OutputListener] = []
        self._exit_listeners: list[ExitListener] = []
        self._ended = False

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    @property
    def running(self) -> bool:
        return self.pty is not None and self.pty.running

    @property
    def ended(self) -> bool:
        """The child exited, or never started (see ``error``)."""
        return self._ended

    def on_output(self, listener: OutputListener) -> None:
        """Call ``listener()`` after new bytes reached the screen (coalesce in the listener)."""
        self._output_listeners.append(listener)

    def on_exit(self, listener: ExitListener) -> None:
        """Call ``listener(exit)`` once when the child is gone (None if it never started)."""
        self._exit_listeners.append(listener)

    def start(self) -> bool:
        """Spawn the child and begin reading. On a spawn failure the reason is drawn on the
        screen and kept in ``error``; the caller's app keeps running either way."""
        cols, rows = self.screen.size
        try:
            self.pty = PtySession.spawn(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                env_unset=self.env_unset,
                cols=cols,
                rows=rows,
            )
        except CommandNotFoundError as exc:
            self._fail(str(exc))
            return False
        except OSError as exc:
            self._fail(f"cannot start {self.command_line}: {exc.strerror or exc}")
            return False
        self.pty.start(self._data, self._exited)
        return True

    def fail(self, message: str) -> None:
        """End a session that cannot start, showing ``message`` on its screen."""
        self._fail(message)

    def _fail(self, message: str) -> None:
        self.error = message
        self.screen.feed(b"\x1b[1;31m" + message.encode() + b"\x1b[0m\r\n")
        self._ended = True
        self._notify_output()
        for listener in self._exit_listeners:
            listener(None)

    def _data(self, data: bytes) -> None:
        self.bytes_received += len(data)
        self.screen.feed(data)
        self._notify_output()

    def _notify_output(self) -> None:
        for listener in self._output_listeners:
            listener()

    def _exited(self, exit: PtyExit) -> None:
        self.exit = exit
        self._ended = True
        self.screen.feed(f"\r\n\x1b[2m[{exit.description}]\x1b[0m".encode())
        self._notify_output()
        for listener in self._exit_listeners:
            listener(exit)

    def _reply(self, data: bytes) -> None:
        if self.pty is not None and self.pty.running:
            self.pty.write(data)

    # --- input ----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Raw bytes to the child (dropped once it has exited)."""
        if data and self.pty is not None and self.pty.running:
            self.pty.write(data)

    def send_key(self, name: str, character: str | None = None) -> bytes:
        """A key in Textual's naming, encoded for the child's current modes; returns the bytes."""
        data = self.screen.encode_keystroke(parse_key(name, character))
        self.write(data)
        return data

    def paste(self, text: str) -> None:
        """Text as a paste: bracketed when the child enabled it (so it is not run as keys)."""
        self.write(self.screen.encode_paste(text))

    def resize(self, cols: int, rows: int) -> None:
        """Resize the screen (with reflow) and the PTY; the kernel signals the child."""
        cols, rows = max(1, cols), max(1, rows)
        if (cols, rows) == self.screen.size:
            return
        self.screen.resize(cols, rows)
        if self.pty is not None and self.pty.running:
            self.pty.resize(cols, rows)

    # --- end ------------------------------------------------------------------------------

    async def close(self, grace: float = 1.0) -> None:
        """Kill the child's whole process group and release the PTY."""
        if self.pty is not None:
            await self.pty.close(grace)

    def close_now(self) -> None:
        """Synchronous kill for exit paths where no loop runs any more."""
        if self.pty is not None:
            self.pty.close_now()

    async def wait(self) -> PtyExit | None:
        if self.pty is None:
            return None
        return await self.pty.wait()


def default_shell() -> list[str]:
    """The user's shell, for a pane opened without a command."""
    return [os.environ.get("SHELL") or "/bin/sh"]


def command_label(argv: Sequence[str]) -> str:
    """A short pane title: program and arguments with folders dropped (full line: tooltip)."""
    return shlex.join(os.path.basename(arg) if "/" in arg else arg for arg in argv)
