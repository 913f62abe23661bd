"""The fake agent's options and main loop.

One asyncio loop: raw keys from stdin (``add_reader``), a task per turn, a spinner task while
working, hooks awaited inside the turn. A turn: the prompt goes into the transcript, hook
``UserPromptSubmit``, spinner, the script's rule (delay, then crash / hang / file write with
approval), the reply streamed in chunks, hook ``Stop`` (the screen is idle by then), and the
next queued prompt, if any.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sys
import termios
import time
import traceback
import tty
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from coder_tui.fake_agent import tui
from coder_tui.fake_agent.hooks import HookRunner, Transcript
from coder_tui.fake_agent.keys import Event, InputParser, Key, Paste, Text
from coder_tui.fake_agent.script import ConfigError, Rule, Script, ScriptRunner, load_script

log = logging.getLogger("coder_tui.fake_agent")

ESCAPE_TIMEOUT = 0.05  # a lone ESC with nothing after it for this long is the Esc key
SPINNER_INTERVAL = 0.1
CTRL_C_WINDOW = 1.0
CHUNK_SIZE = 20
EXIT_SCRIPT_ERROR = 2

Phase = Literal["idle", "submitting", "working", "approval", "stopping"]


@dataclass(frozen=True)
class Options:
    name: str = "fake"
    script: Path | None = None
    hook_command: list[str] | None = None
    session_id: str | None = None
    resume: str | None = None
    paste_enter_guard_ms: int = 0
    paste_enter_mode: Literal["newline", "drop"] = "newline"
    alt_screen: bool = False
    wrap: Literal["terminal", "self"] = "terminal"
    approval_mode: Literal["ask", "auto"] = "ask"
    approval_deaf_ms: int = 0
    log: Path | None = None
    prompt: str | None = None


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m coder_tui.fake_agent",
        description="A scripted fake coding-agent CLI with a Claude-like terminal screen.",
    )
    parser.add_argument("prompt", nargs="?", help="an initial prompt, submitted at start")
    parser.add_argument("--name", default="fake", help="shown in the header and title")
    parser.add_argument("--script", type=Path, help="YAML reply rules (default: echo)")
    parser.add_argument(
        "--hook-command", help="command (shell-split) run for each hook event, JSON on stdin"
    )
    parser.add_argument("--session-id", help="session id for hook payloads (default: uuid4)")
    parser.add_argument("--resume", metavar="ID", help="resume this session id")
    parser.add_argument(
        "--paste-enter-guard",
        type=int,
        default=0,
        metavar="MS",
        help="an Enter this soon after a paste ends is not a submit",
    )
    parser.add_argument(
        "--paste-enter-mode",
        choices=["newline", "drop"],
        default="newline",
        help="what a guarded Enter does: insert a newline (Gemini) or nothing (Claude)",
    )
    parser.add_argument("--alt-screen", action="store_true", help="draw on the alternate screen")
    parser.add_argument(
        "--wrap",
        choices=["terminal", "self"],
        default="terminal",
        help="a transcript line wider than the screen: the terminal wraps it (like line-"
        "oriented CLIs; a screen reader can join it back) or the agent breaks it into indented "
        "rows itself (like Ink-based CLIs)",
    )
    parser.add_argument("--approval-mode", choices=["ask", "auto"], default="ask")
    parser.add_argument(
        "--approval-deaf",
        type=int,
        default=0,
        metavar="MS",
        help="keys this soon after the approval prompt appears are lost, and its last line is "
        "drawn only then (Claude Code drops a key that comes as it draws its prompt)",
    )
    parser.add_argument("--log", type=Path, help="debug log file")
    args = parser.parse_args(argv)
    hook_command = None
    if args.hook_command is not None:
        try:
            hook_command = shlex.split(args.hook_command)
        except ValueError as exc:
            parser.error(f"--hook-command: {exc}")
        if not hook_command:
            parser.error("--hook-command is empty")
    if args.paste_enter_guard < 0:
        parser.error("--paste-enter-guard must be >= 0")
    if args.approval_deaf < 0:
        parser.error("--approval-deaf must be >= 0")
    return Options(
        name=args.name,
        script=args.script,
        hook_command=hook_command,
        session_id=args.session_id,
        resume=args.resume,
        paste_enter_guard_ms=args.paste_enter_guard,
        paste_enter_mode=args.paste_enter_mode,
        alt_screen=args.alt_screen,
        wrap=args.wrap,
        approval_mode=args.approval_mode,
        approval_deaf_ms=args.approval_deaf,
        log=args.log,
        prompt=args.prompt,
    )


def _setup_logging(path: Path | None) -> None:
    log.propagate = False  # never let logging's last-resort handler write onto the screen
    log.setLevel(logging.DEBUG)
    if path is None:
        log.addHandler(logging.NullHandler())
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    _setup_logging(options.log)
    script = Script()
    if options.script is not None:
        try:
            script = load_script(options.script)
        except ConfigError as exc:
            print(f"fake-agent: invalid script:\n{exc}", file=sys.stderr)
            return EXIT_SCRIPT_ERROR
    if not os.isatty(sys.stdin.fileno()):
        print("fake-agent: stdin must be a terminal", file=sys.stderr)
        return EXIT_SCRIPT_ERROR
    return FakeAgent(options, script).run()


def _write_text(path: str, content: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(content, encoding="utf-8")


class _Exit(Exception):
    """Raised inside a turn by a crash rule, caught by the loop."""


class FakeAgent:
    def __init__(self, options: Options, script: Script) -> None:
        self.options = options
        self.runner = ScriptRunner(script)
        self.session_id = options.resume or options.session_id or str(uuid.uuid4())
        self.cwd = os.getcwd()
        self.transcript = Transcript(self.session_id)
        self.hooks = HookRunner(options.hook_command) if options.hook_command else None
        self.in_fd = sys.stdin.fileno()
        self.out_fd = sys.stdout.fileno()
        self.renderer = tui.Renderer(
            tui.write_all(self.out_fd),
            alt_screen=options.alt_screen,
            terminal_wraps=options.wrap == "terminal",
        )
        self.parser = InputParser()

        self.static: list[str] = []
        self.input_text = ""
        self.queue: list[str] = []
        self.phase: Phase = "idle"
        self.partial: str | None = None  # the reply line being streamed, mark included
        self.approval: tui.ApprovalView | None = None
        self.turn_started = 0.0
        self.spinner_frame = 0
        self.last_paste_end: float | None = None
        self.ctrl_c_at: float | None = None

        self._done: asyncio.Future[int] | None = None
        self._exit_message: str | None = None
        self._turn: asyncio.Task[None] | None = None
        self._spinner: asyncio.Task[None] | None = None
        self._approval_answer: asyncio.Future[bool] | None = None
        self._escape_timer: asyncio.TimerHandle | None = None
        self._ctrl_c_timer: asyncio.TimerHandle | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        """Raw mode, the loop, and the terminal restored whatever happens."""
        saved = termios.tcgetattr(self.in_fd)
        code = 1
        crash: str | None = None
        try:
            tty.setraw(self.in_fd)
            self.renderer.start()
            code = asyncio.run(self._main())
        except Exception:
            crash = traceback.format_exc()
            log.error("crashed:\n%s", crash)
        finally:
            with contextlib.suppress(OSError):
                self.renderer.stop()
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.in_fd, termios.TCSADRAIN, saved)
        if crash is not None:
            print(f"fake-agent: internal error\n{crash}", file=sys.stderr)
        elif self._exit_message:
            print(self._exit_message, file=sys.stderr)
        log.info("exit %d", code)
        return code

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        loop.add_signal_handler(signal.SIGWINCH, self._on_resize)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(signum, self._exit, 128 + signum)
        cols, rows = self._size()
        log.info(
            "start name=%s session=%s size=%dx%d cwd=%s", self.options.name, self.session_id,
            cols, rows, self.cwd,
        )  # fmt: skip
        self._start_transcript()
        self.render()
        try:
            await self._hook("SessionStart", source="resume" if self.options.resume else "startup")
            loop.add_reader(self.in_fd, self._on_readable)
            if self.options.prompt:
                self._submit(self.options.prompt)
            return await self._done
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(self.in_fd)
            if self.hooks is not None:
                self.hooks.kill()
            for task in (self._turn, self._spinner):
                if task is not None:
                    task.cancel()

    def _exit(self, code: int, message: str | None = None) -> None:
        if self._done is not None and not self._done.done():
            log.info("exiting with %d", code)
            self._exit_message = message
            self._done.set_result(code)

    def _start_transcript(self) -> None:
        short = self.session_id[:8]
        self.static.append(f"{tui.HEADER_MARK} fake-agent {self.options.name}  (session {short})")
        self.static.append(f"{tui.INDENT}cwd: {self.cwd}")
        if self.options.resume:
            entries = self.transcript.load()
            answered = [
                text
                for index, (role, text) in enumerate(entries)
                if role == "user"
                and index + 1 < len(entries)
                and entries[index + 1][0] == "assistant"
            ]
            self.runner.replay(answered)
            for role, text in entries:
                mark = tui.USER_MARK if role == "user" else tui.REPLY_MARK
                self.static.append("")
                self.static += tui.entry_lines(mark, text)
            self.static.append("")
            self.static.append(f"resumed session {self.session_id}")

    # --- screen ----------------------------------------------------------------------------

    def _size(self) -> tuple[int, int]:
        try:
            size = os.get_terminal_size(self.out_fd)
        except OSError:
            return 80, 24
        return max(1, size.columns), max(1, size.lines)

    def _on_resize(self) -> None:
        log.debug("resize to %s", self._size())
        self.renderer.invalidate()
        self.render()

    def _spinner_char(self) -> str:
        return tui.SPINNER_FRAMES[self.spinner_frame % len(tui.SPINNER_FRAMES)]

    def _title(self) -> str:
        if self.phase == "approval":
            return f"{tui.TITLE_APPROVAL} {self.options.name}"
        if self.phase == "working":
            return f"{self._spinner_char()} {self.options.name}"
        return f"{tui.TITLE_IDLE} {self.options.name}"

    def _view(self) -> tui.DynamicView:
        view = tui.DynamicView(
            partial=self.partial,
            queued=list(self.queue),
            input_text=self.input_text,
            approval=self.approval if self.phase == "approval" else None,
        )
        if self.phase == "working":
            seconds = int(time.monotonic() - self.turn_started)
            view.spinner = f"{self._spinner_char()} Working… ({seconds}s · esc to interrupt)"
        if self.ctrl_c_at is not None:
            view.footer = tui.EXIT_FOOTER
        elif self.phase == "approval":
            view.footer = tui.APPROVAL_FOOTER
        elif self.phase == "working":
            view.footer = tui.BUSY_FOOTER
        return view

    def render(self) -> None:
        cols, rows = self._size()
        self.renderer.draw(self.static, self._view(), cols, rows, self._title())

    def _set_phase(self, phase: Phase) -> None:
        log.debug("phase %s -> %s", self.phase, phase)
        self.phase = phase
        if phase == "working" and self._spinner is None:
            self._spinner = asyncio.get_running_loop().create_task(self._spin())
        elif phase != "working" and self._spinner is not None:
            self._spinner.cancel()
            self._spinner = None
        self.render()

    async def _spin(self) -> None:
        while True:
            await asyncio.sleep(SPINNER_INTERVAL)
            self.spinner_frame += 1
            self.render()

    # --- input -----------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self.in_fd, 4096)
        except OSError:
            data = b""
        if not data:
            log.info("stdin closed")
            self._exit(0)
            return
        log.debug("read %r", data)
        if self._escape_timer is not None:
            self._escape_timer.cancel()
            self._escape_timer = None
        self._handle(self.parser.feed(data))
        if self.parser.pending_escape:
            loop = asyncio.get_running_loop()
            self._escape_timer = loop.call_later(ESCAPE_TIMEOUT, self._escape_timeout)

    def _escape_timeout(self) -> None:
        self._escape_timer = None
        self._handle(self.parser.flush())

    def _handle(self, events: list[Event]) -> None:
        if not events:
            return
        for event in events:
            log.debug("event %r", event)
            if isinstance(event, Key):
                self._on_key(event.name)
            elif isinstance(event, Paste):
                self._on_paste(event.text)
            elif isinstance(event, Text):
                self._on_text(event.text)
        self.render()

    def _on_text(self, text: str) -> None:
        if self.phase == "approval":
            for char in text:
                if char in "1yY":
                    self._answer(True)
                    return
                if char in "2nN":
                    self._answer(False)
                    return
            return
        self._disarm_ctrl_c()
        self.input_text += text

    def _on_paste(self, text: str) -> None:
        self.last_paste_end = time.monotonic()
        if self.phase == "approval":
            return
        self._disarm_ctrl_c()
        self.input_text += text

    def _on_key(self, name: str) -> None:
        if name != "ctrl+c":
            self._disarm_ctrl_c()
        if self.phase == "approval" and self.approval is not None:
            if name in ("up", "down", "tab", "shift+tab"):
                step = -1 if name in ("up", "shift+tab") else 1
                self.approval.highlight = (self.approval.highlight + step) % 2
            elif name == "enter":
                self._answer(self.approval.highlight == 0)
            elif name in ("esc", "ctrl+c"):
                self._answer(False)
            elif name == "ctrl+d":
                self._exit(0)
            return
        if name == "enter":
            self._on_enter()
        elif name in ("newline", "alt+enter"):
            self.input_text += "\n"
        elif name == "backspace":
            self.input_text = self.input_text[:-1]
        elif name == "ctrl+u":
            self.input_text = ""
        elif name == "esc":
            if self.phase in ("submitting", "working"):
                self._interrupt()
        elif name == "ctrl+c":
            self._on_ctrl_c()
        elif name == "ctrl+d" and not self.input_text:
            self._exit(0)

    def _on_enter(self) -> None:
        guard = self.options.paste_enter_guard_ms / 1000
        if guard and self.last_paste_end is not None:
            since = time.monotonic() - self.last_paste_end
            if since < guard:
                log.debug(
                    "enter %.0f ms after a paste: %s", since * 1000, self.options.paste_enter_mode
                )
                if self.options.paste_enter_mode == "newline":
                    self.input_text += "\n"
                return
        if not self.input_text.strip():
            return
        prompt, self.input_text = self.input_text, ""
        self._submit(prompt)

    def _on_ctrl_c(self) -> None:
        if self.input_text:
            self.input_text = ""
            return
        now = time.monotonic()
        if self.ctrl_c_at is not None and now - self.ctrl_c_at <= CTRL_C_WINDOW:
            self._exit(0)
            return
        if self.phase in ("submitting", "working"):
            self._interrupt()
        self.ctrl_c_at = now
        loop = asyncio.get_running_loop()
        self._ctrl_c_timer = loop.call_later(CTRL_C_WINDOW, self._ctrl_c_expired)

    def _ctrl_c_expired(self) -> None:
        self._disarm_ctrl_c()
        self.render()

    def _disarm_ctrl_c(self) -> None:
        self.ctrl_c_at = None
        if self._ctrl_c_timer is not None:
            self._ctrl_c_timer.cancel()
            self._ctrl_c_timer = None

    def _answer(self, approved: bool) -> None:
        if self.approval is not None and not self.approval.ready:
            log.info("approval answer %s lost: the prompt is still being drawn", approved)
            return
        if self._approval_answer is not None and not self._approval_answer.done():
            self._approval_answer.set_result(approved)

    # --- turns -----------------------------------------------------------------------------

    def _submit(self, prompt: str) -> None:
        if self._turn is not None:
            log.info("queued %r", prompt)
            self.queue.append(prompt)
            self.render()
            return
        log.info("submit %r", prompt)
        self._turn = asyncio.get_running_loop().create_task(self._run_turn(prompt))
        self._turn.add_done_callback(self._turn_done)

    def _interrupt(self) -> None:
        if self._turn is not None:
            log.info("interrupt")
            self._turn.cancel()

    def _turn_done(self, task: asyncio.Task[None]) -> None:
        self._turn = None
        self.approval = None
        if not task.cancelled():
            exc = task.exception()
            if isinstance(exc, _Exit):
                return
            if exc is not None:
                detail = "".join(traceback.format_exception(exc))
                log.error("turn failed:\n%s", detail)
                self._exit(1, f"fake-agent: internal error\n{detail}")
                return
        if self._done is not None and self._done.done():
            return
        self._set_phase("idle")
        if self.queue:
            self._submit(self.queue.pop(0))

    async def _run_turn(self, prompt: str) -> None:
        self.static.append("")
        self.static += tui.entry_lines(tui.USER_MARK, prompt)
        self.transcript.append("user", prompt)
        self._set_phase("submitting")
        rule = self.runner.pick(prompt)
        reply = self.runner.reply_for(rule, prompt)
        log.info("rule %r", rule)
        try:
            await self._hook("UserPromptSubmit", prompt=prompt)
            self.turn_started = time.monotonic()
            self._set_phase("working")
            await asyncio.sleep(rule.delay)
            if rule.crash is not None:
                self._exit(rule.crash, f"fake-agent: crash rule: exit code {rule.crash}")
                raise _Exit
            if rule.hang:
                # Until Esc cancels the turn or the process is killed.
                await asyncio.get_running_loop().create_future()
            if rule.write is not None:
                reply = await self._write_file(rule, reply)
            await self._stream(reply, rule.chunk_delay)
        except asyncio.CancelledError:
            self._interrupted()
            raise
        self.transcript.append("assistant", reply)
        self._set_phase("stopping")  # the screen is idle before the Stop hook runs
        await self._hook("Stop", last_assistant_message=reply, stop_hook_active=False)

    def _interrupted(self) -> None:
        if self.partial is not None:
            self.static.append(self.partial)
            self.partial = None
        self.static.append("")
        self.static.append(f"{tui.REPLY_MARK}Interrupted")
        self.approval = None

    async def _stream(self, reply: str, chunk_delay: float) -> None:
        """Reply text into the transcript in ~CHUNK_SIZE pieces; finished lines become
        static at once, the line still growing is drawn in the dynamic region."""
        self.static.append("")
        committed = 0
        shown = ""
        for start in range(0, max(1, len(reply)), CHUNK_SIZE):
            if start:
                await asyncio.sleep(chunk_delay)
            shown = reply[: start + CHUNK_SIZE]
            lines = tui.entry_lines(tui.REPLY_MARK, shown)
            self.static += lines[committed:-1]
            committed = len(lines) - 1
            self.partial = lines[-1]
            self.render()
        self.static.append(self.partial or tui.REPLY_MARK)
        self.partial = None

    async def _write_file(self, rule: Rule, reply: str) -> str:
        assert rule.write is not None
        path = rule.write.path
        content = rule.write.content
        full_path = str(Path(self.cwd, path))
        await self._hook(
            "PreToolUse",
            tool_name="Write",
            tool_input={"file_path": full_path, "content": content},
        )
        approved = True
        if self.options.approval_mode == "ask":
            approved = await self._ask(path, content)
            self._set_phase("working")
        self.static.append("")
        self.static.append(f"{tui.REPLY_MARK}Write({path})")
        if not approved:
            log.info("write denied: %s", path)
            self.static.append(f"{tui.INDENT}⎿  User rejected write to {path}")
            return f"Edit denied: {path}"
        try:
            _write_text(full_path, content)
        except OSError as exc:
            log.warning("write %s failed: %s", full_path, exc)
            self.static.append(f"{tui.INDENT}⎿  Error writing {path}: {exc.strerror or exc}")
            return f"Edit failed: {path}: {exc.strerror or exc}"
        lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
        self.static.append(f"{tui.INDENT}⎿  Wrote {lines} lines to {path}")
        return reply

    async def _ask(self, path: str, content: str) -> bool:
        loop = asyncio.get_running_loop()
        self._approval_answer = loop.create_future()
        deaf = self.options.approval_deaf_ms / 1000
        self.approval = tui.ApprovalView(path=path, content=content, ready=deaf == 0)
        self._set_phase("approval")
        if deaf:
            loop.call_later(deaf, self._approval_drawn)
        try:
            await self._hook(
                "Notification",
                notification_type="permission_prompt",
                message=f"{self.options.name} needs your permission to use Write",
            )
            approved = await self._approval_answer
        finally:
            self._approval_answer = None
            self.approval = None
        log.info("approval for %s: %s", path, approved)
        return approved

    def _approval_drawn(self) -> None:
        if self.approval is not None:
            self.approval.ready = True
            self.render()

    # --- hooks -----------------------------------------------------------------------------

    async def _hook(self, event: str, **fields: Any) -> None:
        """Run the hook command for ``event`` and wait for it. A cancel (Esc) waits for the
        hook to finish first, so events never overlap or arrive out of order."""
        if self.hooks is None:
            return
        payload: dict[str, Any] = {
            "hook_event_name": event,
            "session_id": self.session_id,
            "transcript_path": str(self.transcript.path),
            "cwd": self.cwd,
            "agent_name": self.options.name,
            "permission_mode": "default" if self.options.approval_mode == "ask" else "acceptEdits",
            **fields,
        }
        log.info("hook %s", event)
        task = asyncio.ensure_future(self.hooks.run(payload))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done() and not (self._done is not None and self._done.done()):
                with contextlib.suppress(Exception):
                    await task
            raise
