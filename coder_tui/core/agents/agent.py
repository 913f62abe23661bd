"""One running agent CLI: its terminal, its status, delivery of prompts and capture of replies.

Status comes from three sources, in this order of trust: the CLI's own hook events (exact, with
the reply text), screen rules from the profile (busy / idle / approval markers), and a quiet
screen (quiescence) for agents that have neither. A missed hook can never leave the status at
"working" forever: a screen that shows the idle marker and stays quiet long enough ends the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import watchfiles

from coder_tui.core.agents.adapters import NO_HOOKS, HookEventKind, NormalizedHookEvent
from coder_tui.core.agents.approvals import ApprovalDesk
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentExited,
    AgentStatus,
    AgentWarning,
    ApprovalAnswered,
    ApprovalPolicy,
    ApprovalRequested,
    PromptAccepted,
    Source,
    StatusChanged,
    TurnEnded,
)
from coder_tui.core.agents.launch import LaunchSpec
from coder_tui.core.agents.paste import guard_prompt, paste_pieces
from coder_tui.core.agents.profile import AgentProfile
from coder_tui.core.agents.screen import ScreenRules, box_inner, reply_from_screen
from coder_tui.core.agents.versions import (
    checked_range,
    fit_warning,
    probe_version,
    version_number,
)
from coder_tui.core.pty import PtyExit
from coder_tui.core.session import TerminalSession
from coder_tui.core.tasks import spawn

log = logging.getLogger(__name__)

SCREEN_CHECK_INTERVAL = 0.05  # seconds between screen-rule evaluations while output flows
PROMPT_HOOK_GRACE = 1.0  # seconds to wait for the prompt hook once the screen proved the submit
HOOK_MISS_QUIET = 5.0  # quiet seconds with the idle marker that end a turn whose hook was missed
KEPT_REPLIES = 64  # replies kept by turn number for TurnHandle.reply (a late reader's window)
STARTUP_ANSWER_GAP = 2.0  # seconds before a startup dialog that is still there is answered again


class DeliveryError(Exception):
    """A prompt could not be delivered; the message says why, for the user."""


class AgentGone(Exception):
    """The agent exited while something waited for it."""


@dataclass(frozen=True)
class DeliveryProof:
    """How we know the CLI accepted the prompt."""

    source: Source
    how: str  # "prompt hook", "busy marker", "input box cleared", "turn ended"
    enter_presses: int
    elapsed: float


@dataclass(frozen=True)
class TurnHandle:
    """The one turn a delivered prompt started. Its number is taken under the agent's
    delivery lock, so a caller waits for the reply to its own prompt, never for the reply to
    a prompt somebody else delivered in between (an @mention while a step waited)."""

    agent: Agent
    number: int  # the agent's turn count once this turn has ended
    proof: DeliveryProof

    async def reply(self, within: float | None = None) -> str:
        """This turn's reply; AgentGone if the agent exits first, TimeoutError after
        ``within`` seconds."""
        return await self.agent.reply_of_turn(self.number, within)


@dataclass
class TurnState:
    """The turn in progress (a fresh one after each turn's end): what was submitted and the
    screen then (to read the reply off the screen), when it began, and whether coder-tui
    interrupted it or denied one of its approvals (both end it without a turn-end hook)."""

    prompt: str | None = None
    baseline: list[str] | None = None
    started: float | None = None
    interrupted_at: float | None = None
    denied_at: float | None = None


class Agent:
    """An agent CLI in a PTY. Create with a LaunchSpec, then ``await start()``."""

    def __init__(
        self,
        name: str,
        profile: AgentProfile,
        spec: LaunchSpec,
        *,
        cols: int = 120,
        rows: int = 40,
        policy: ApprovalPolicy = ApprovalPolicy.ASK,
    ) -> None:
        self.name = name
        self.policy = policy
        self.profile = profile
        self.spec = spec
        self.session = TerminalSession(
            spec.argv, cwd=spec.cwd, env=spec.env, env_unset=spec.env_unset, cols=cols, rows=rows
        )
        self.status = AgentStatus.STARTING
        self.status_source = Source.SCREEN
        self.session_id = spec.session_id
        self.turns = 0
        self.last_reply: str | None = None
        self._replies: dict[int, str] = {}  # turn number -> reply, the last KEPT_REPLIES
        self.exit: PtyExit | None = None
        self._listeners: list[Callable[[AgentEvent], None]] = []
        self._rules = ScreenRules(profile)
        self._events_offset = 0
        self._prompt_events: list[str] = []
        self._ended_turn_ids: list[str] = []
        self._startup_answered_at: dict[str, float] = {}
        self._delivery_lock = asyncio.Lock()
        self._status_changed = asyncio.Event()
        self._turn_ended = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None
        self._screen_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._last_change = time.monotonic()
        self._screen_dirty = asyncio.Event()
        self._turn = TurnState()
        self._pasting = False  # between a delivery's paste and its proof of submission
        self._session_started = False  # the CLI's start hook fired
        self.approvals = ApprovalDesk(self)
        self._stuck_warned = False  # the start-timeout diagnosis was raised
        self._started_at: float | None = None
        self.cli_version: str | None = None  # the CLI's own --version line, once read
        self.warnings: list[str] = []  # every AgentWarning raised, for a later reader
        self._warned_modes: set[str] = set()
        self._version_task: asyncio.Task[None] | None = None
        self.session.on_output(self._on_output)
        self.session.on_exit(self._on_exit)

    # --- subscription -------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[AgentEvent], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, event: AgentEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break the agent
                log.exception("agent listener failed")

    def _set_status(self, new: AgentStatus, source: Source, detail: str = "") -> None:
        if self.status is AgentStatus.EXITED or new is self.status:
            return
        old, self.status, self.status_source = self.status, new, source
        if new is AgentStatus.WORKING and old is not AgentStatus.NEEDS_APPROVAL:
            self._turn.started = time.monotonic()
        self._status_changed.set()
        self._status_changed = asyncio.Event()
        self._emit(StatusChanged(self.name, old, new, source, detail))
        if new is AgentStatus.NEEDS_APPROVAL:
            self.approvals.opened()
            self._emit(ApprovalRequested(self.name, detail, source))
            self.approvals.apply_policy()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def has_hooks(self) -> bool:
        return self.profile.hooks != NO_HOOKS

    async def start(self) -> None:
        """Spawn the CLI and begin watching its hook events and its screen."""
        self.spec.events_file.parent.mkdir(parents=True, exist_ok=True)
        self.spec.events_file.touch()
        # Events already in the file belong to an earlier launch (a restart or a resume).
        self._events_offset = self.spec.events_file.stat().st_size
        self._record_launch()
        path = self.spec.env.get("PATH", os.environ.get("PATH"))
        if shutil.which(self.spec.argv[0], path=path) is None:
            self.session.fail(self.profile.missing_message())
            return
        if not self.session.start():
            return  # the session drew the error on its screen and reported the exit
        self._started_at = time.monotonic()
        if self.profile.version_args:
            self._version_task = spawn(
                self._read_version(path), name=f"{self.name}-version", on_error=self._task_failed
            )
        self._screen_task = spawn(
            self._watch_screen(), name=f"{self.name}-screen", on_error=self._task_failed
        )
        if self.has_hooks:
            self._watch_task = spawn(
                self._watch_events(), name=f"{self.name}-hooks", on_error=self._task_failed
            )

    def _task_failed(self, error: BaseException) -> None:
        """A watcher died: the status may no longer follow the CLI, and the user must know."""
        self.warn(f"internal error, its status may be stale: {error!r}")

    async def stop(self, grace: float = 1.0) -> None:
        """Ask the CLI to quit its own way first (so it can save its session for a later
        resume), then end its whole process group."""
        self._stop.set()
        if self.session.running and self.profile.exit_keys:
            self.session.write(self.profile.exit_keys.encode())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self.session.wait()
        await self.session.close(grace)
        for task in (self._watch_task, self._screen_task, self._version_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _read_version(self, path: str | None) -> None:
        """Ask the CLI for its version beside the running agent (never delaying its start),
        record it in launch.json, and warn when the profile was not checked with it."""
        executable = shutil.which(self.spec.argv[0], path=path) or self.spec.argv[0]
        argv = [executable, *self.profile.command[1:], *self.profile.version_args]
        env = {**os.environ, **self.spec.env}
        for name in self.spec.env_unset:
            env.pop(name, None)
        self.cli_version = await probe_version(argv, env)
        if self.status is not AgentStatus.EXITED:
            self._record_launch()
        if warning := fit_warning(self.profile, self.cli_version):
            self.warn(warning)

    def warn(self, message: str) -> None:
        """Raise a warning the front ends show (pane, channel, headless output)."""
        log.warning("%s: %s", self.name, message)
        self.warnings.append(message)
        self._emit(AgentWarning(self.name, message))

    def describe_cli(self) -> str:
        """The CLI and its version as the user knows them, e.g. "Claude Code 2.1.332"."""
        title = self.profile.title or self.profile.name
        number = version_number(self.cli_version)
        return f"{title} {number}" if number else title

    def screen_diagnosis(self) -> str:
        """Why the screen reads as it does, for a start or a turn that does not end: which rule
        matched, or the footer that none matched."""
        lines = self.screen_lines()
        reading = self._rules.read(lines)
        footer = next((line.strip() for line in reversed(lines) if line.strip()), "")
        if reading.state != "unknown":
            return f"the screen reads as {reading.state} ({footer!r})"
        checked = (
            f"; checked with {checked_range(self.profile)}" if self.profile.checked_versions else ""
        )
        return (
            f"the screen of {self.describe_cli()} fits no rule of the {self.profile.name!r} "
            f"profile (footer {footer!r}{checked}): the profile may not fit this version"
        )

    @property
    def launch_record(self) -> Path:
        return self.spec.events_file.parent / "launch.json"

    def _record_launch(self) -> None:
        """Write what resuming this agent needs (its session id above all) next to its events,
        atomically: a crash of coder-tui must not lose or half-write it."""
        record = {
            "agent": self.name,
            "profile": self.profile.name,
            "session_id": self.session_id,
            "argv": self.spec.argv,
            "cwd": str(self.spec.cwd),
            "policy": str(self.policy),
            "approvals_skipped": self.spec.approvals_skipped,
            "cli_version": self.cli_version,
            "recorded_at": time.time(),
        }
        tmp = self.launch_record.with_name(".launch.json.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.launch_record)

    def _on_exit(self, exit: PtyExit | None) -> None:
        self.exit = exit
        code = exit.exit_code if exit else None
        description = exit.description if exit else (self.session.error or "did not start")
        old = self.status
        self.status = AgentStatus.EXITED
        self._status_changed.set()
        self._emit(StatusChanged(self.name, old, AgentStatus.EXITED, Source.EXIT, description))
        self._emit(AgentExited(self.name, code, description))
        self._stop.set()

    async def wait_for_turn(self, after: int, within: float | None = None) -> str:
        """Until the agent has finished more than ``after`` turns; returns the last reply.
        Raises AgentGone if it exits first, TimeoutError after ``within`` seconds. (To wait
        for the reply to a prompt of one's own, use the TurnHandle ``deliver`` returns.)"""
        await self._wait_for_turns(after + 1, within)
        return self.last_reply or ""

    async def reply_of_turn(self, number: int, within: float | None = None) -> str:
        """The reply of turn ``number`` (1-based), once it has ended."""
        await self._wait_for_turns(number, within)
        return self._replies.get(number, "")

    async def _wait_for_turns(self, count: int, within: float | None) -> None:
        after = count - 1
        async with asyncio.timeout(within):
            while self.turns <= after:
                if self.status is AgentStatus.EXITED:
                    raise AgentGone(f"{self.name} exited ({self._exit_text()})")
                waiters = [
                    asyncio.ensure_future(self._turn_ended.wait()),
                    asyncio.ensure_future(self._status_changed.wait()),
                ]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()

    async def wait_for_status(
        self, *wanted: AgentStatus, within: float | None = None
    ) -> AgentStatus:
        """Until the status is one of ``wanted`` (or the agent exited); returns it."""
        async with asyncio.timeout(within):
            while self.status not in wanted and self.status is not AgentStatus.EXITED:
                await self._status_changed.wait()
        return self.status

    # --- hook events ------------------------------------------------------------------------------

    async def _watch_events(self) -> None:
        self._read_events()
        folder = self.spec.events_file.parent
        async for _ in watchfiles.awatch(
            folder, debounce=10, step=5, stop_event=self._stop, recursive=False
        ):
            self._read_events()

    def _read_events(self) -> None:
        try:
            with self.spec.events_file.open("rb") as f:
                f.seek(self._events_offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self._events_offset += end + 1
        for line in data[: end + 1].splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s: unreadable hook line %r", self.name, line[:200])
                continue
            self._on_hook(record)

    def _on_hook(self, record: dict[str, Any]) -> None:
        """One hook record, read by the profile's adapter: only its normalized event counts."""
        adapter = self.profile.adapter
        event = adapter.normalize(record) if adapter is not None else None
        if event is None:
            return
        if event.session_id and not self.session_id:
            # Codex picks its own thread id; its hooks (SessionStart, UserPromptSubmit) name it.
            self.session_id = event.session_id
            self._record_launch()
        self._check_permission_mode(event.permission_mode)
        kind = event.kind
        if kind is HookEventKind.SESSION_STARTED:
            self._session_started = True
            self._screen_dirty.set()
        elif kind is HookEventKind.TOOL_STARTING:
            self.approvals.tool = (event.tool, event.tool_input)
            if self.status is AgentStatus.NEEDS_APPROVAL:
                self.approvals.apply_policy()  # the prompt was drawn before the hook was read
        elif kind is HookEventKind.APPROVAL_REQUESTED:
            if event.tool:
                self.approvals.tool = (event.tool, event.tool_input)
            if self.status is AgentStatus.NEEDS_APPROVAL and event.tool:
                self.approvals.apply_policy()
            self.approvals.announced_by_hook(event.detail)
        elif kind is HookEventKind.TOOL_FINISHED:
            self.approvals.tool = None
            if self.status is AgentStatus.NEEDS_APPROVAL:
                self._set_status(AgentStatus.WORKING, Source.HOOK)
        elif kind is HookEventKind.TURN_INTERRUPTED:
            if self.status in (AgentStatus.WORKING, AgentStatus.NEEDS_APPROVAL):
                self._remember_turn(event.turn_id)
                self._end_turn(self._screen_reply(), Source.HOOK)
        elif kind is HookEventKind.PROMPT_ACCEPTED:
            self._turn.denied_at = None  # a new turn
            self.approvals.tool = None
            self._prompt_events.append(event.prompt)
            self._emit(PromptAccepted(self.name, event.prompt, Source.HOOK))
            self._set_status(AgentStatus.WORKING, Source.HOOK)
        elif kind is HookEventKind.TURN_ENDED:
            self._hook_turn_end(event)

    def _hook_turn_end(self, event: NormalizedHookEvent) -> None:
        """A turn-end hook, unless it is not this turn's: a turn of the CLI's side conversation
        (Codex's title generation), one already ended (Codex reports each twice: Stop, then
        notify), or a late one of a turn the screen already ended."""
        thread = event.thread_id
        if self.session_id is None and thread and self.status is AgentStatus.WORKING:
            self.session_id = thread  # no hooks ran (untrusted): the first turn names it
            self._record_launch()
        elif thread and self.session_id and thread != self.session_id:
            return  # Codex's internal title-generation turn runs on another thread
        if event.turn_id and event.turn_id in self._ended_turn_ids:
            return  # its Stop hook already ended this turn
        if self.status is AgentStatus.IDLE and self._has_prompt_hook:
            # No turn is open (each starts with the prompt hook): this one was already
            # ended from the screen, its hook came late. Counting it would be a 2nd reply.
            log.info("%s: late %s hook of a turn already ended; ignored", self.name, event.name)
            return
        self._remember_turn(event.turn_id)
        reply = event.reply
        self._end_turn(reply if reply is not None else self._screen_reply(), Source.HOOK)

    def _check_permission_mode(self, mode: object) -> None:
        """A CLI that reports (in its hook payload) a mode in which it does not ask, while the
        user did not skip approvals: coder-tui's approvals and policies no longer apply."""
        asking = self.profile.asking_modes
        if not isinstance(mode, str) or not asking or mode in asking:
            return
        if self.spec.approvals_skipped or mode in self._warned_modes:
            return
        self._warned_modes.add(mode)
        self.warn(
            f"{self.describe_cli()} reports permission mode {mode!r}: it acts without asking, "
            "so coder-tui's approvals and policies do not apply (approvals were not skipped; "
            "shift+tab in its pane changes the mode back)"
        )

    def _remember_turn(self, turn_id: str) -> None:
        """A CLI may report a turn's end twice (Codex: Stop hook, then notify): count it once."""
        if turn_id:
            self._ended_turn_ids.append(turn_id)
            del self._ended_turn_ids[:-32]

    def _end_turn(self, reply: str, source: Source) -> None:
        timed_out = self._turn.interrupted_at is not None
        self.turns += 1
        self.last_reply = reply
        self._replies[self.turns] = reply
        for old in [n for n in self._replies if n <= self.turns - KEPT_REPLIES]:
            del self._replies[old]
        self._turn = TurnState()
        self._set_status(AgentStatus.IDLE, Source.TIMEOUT if timed_out else source)
        self._turn_ended.set()
        self._turn_ended = asyncio.Event()
        self._emit(
            TurnEnded(
                self.name,
                reply,
                Source.TIMEOUT if timed_out else source,
                self.turns,
                timed_out=timed_out,
            )
        )

    def hook_says_approval(self, detail: str) -> None:
        """The approval desk judged a hook's notice current: the agent now asks."""
        self._set_status(AgentStatus.NEEDS_APPROVAL, Source.HOOK, detail)

    # --- screen -------------------------------------------------------------------------------

    @property
    def rules(self) -> ScreenRules:
        return self._rules

    @property
    def last_change(self) -> float:
        """When the CLI last drew something (monotonic seconds)."""
        return self._last_change

    def screen_changed(self) -> None:
        """Have the screen rules looked at again soon (something may have changed)."""
        self._screen_dirty.set()

    def _on_output(self) -> None:
        self._last_change = time.monotonic()
        self._screen_dirty.set()

    def screen_lines(self) -> list[str]:
        """The screen, one row a line, a side panel cut off (see ScreenRules.side_panel)."""
        return self._rules.without_side_panel(self.session.screen.text().split("\n"))

    async def _watch_screen(self) -> None:
        """Evaluate screen rules after output (at most every SCREEN_CHECK_INTERVAL) and when
        the screen has been quiet long enough to mean 'idle'."""
        quiet = self.profile.screen.quiescence
        while not self._stop.is_set():
            waited = time.monotonic() - self._last_change
            timeout = max(0.01, quiet - waited) if waited < quiet else quiet
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._screen_dirty.wait()
            self._screen_dirty.clear()
            self._evaluate_screen()
            await asyncio.sleep(SCREEN_CHECK_INTERVAL)

    def _evaluate_screen(self) -> None:
        if self.status is AgentStatus.EXITED:
            return
        lines = self.screen_lines()
        rules = self._rules
        quiet_for = time.monotonic() - self._last_change
        if self.status is AgentStatus.STARTING and self._answer_startup_dialog(lines):
            return
        # While a delivery's paste sits in the input box, its text is not the CLI's question.
        approval = (
            None if self._pasting else rules.find(rules.approval, rules.approval_region(lines))
        )
        self.approvals.send_pending(approval is not None)
        self.approvals.resend_ignored()
        if self.status is AgentStatus.IDLE and self._has_prompt_hook:
            # A new turn of a CLI with a prompt hook starts with that hook (typed in the pane
            # or delivered). What the screen shows while idle is the last turn's frame not yet
            # redrawn (its Stop hook can come first): a stale spinner or approval prompt.
            return
        if approval is not None:
            self.approvals.drawn = True
            self._set_status(AgentStatus.NEEDS_APPROVAL, Source.SCREEN, approval)
            self.approvals.apply_policy()  # a prompt a hook announced early is judged drawn
            return
        status_lines = rules.status_region(lines)
        busy = rules.find(rules.busy, status_lines) is not None
        idle_marker = not rules.idle or rules.find(rules.idle, rules.idle_region(lines)) is not None
        if self.status is AgentStatus.NEEDS_APPROVAL:
            # The prompt went away: answered (here or in the pane), so the turn goes on. A
            # prompt a hook announced counts as gone only once it was drawn (or never came).
            drawn_and_gone = self.status_source is Source.SCREEN or self.approvals.drawn
            never_drawn = self.approvals.never_drawn() and rules.input_box_visible(lines)
            if drawn_and_gone or never_drawn:
                self.approvals.gone()
                self._set_status(AgentStatus.WORKING, Source.SCREEN)
            return
        if self._check_turn_timeout():
            return
        if self.status is AgentStatus.WORKING and self._turn.interrupted_at is not None:
            # We interrupted a hung turn: the CLI may send no turn-end hook for that.
            if idle_marker and not busy and quiet_for >= min(1.0, self.profile.screen.quiescence):
                self._end_turn(self._screen_reply(), Source.TIMEOUT)
            return
        if (
            self.status is AgentStatus.WORKING
            and self._turn.denied_at is not None
            and idle_marker
            and not busy
            and quiet_for >= min(1.0, self.profile.screen.quiescence)
        ):
            # Denied from coder-tui, and the CLI is back at its prompt: Claude Code and Gemini
            # CLI end such a turn without a turn-end hook; no need to wait for HOOK_MISS_QUIET.
            self._end_turn(self._screen_reply(), Source.SCREEN)
            return
        if busy:
            self._set_status(AgentStatus.WORKING, Source.SCREEN)
            return
        quiescent = quiet_for >= self.profile.screen.quiescence
        if self.status is AgentStatus.STARTING and idle_marker and quiescent:
            self._set_status(AgentStatus.IDLE, Source.QUIESCENCE)
        elif self.status is AgentStatus.STARTING and quiescent:
            self._start_without_idle_marker(lines)
        elif self.status is AgentStatus.WORKING and idle_marker and quiescent:
            if not self.has_hooks:
                self._end_turn(self._screen_reply(), Source.QUIESCENCE)
            elif quiet_for >= max(HOOK_MISS_QUIET, 3 * self.profile.screen.quiescence):
                log.warning("%s: no turn-end hook; ending the turn from the screen", self.name)
                self._end_turn(self._screen_reply(), Source.SCREEN)

    def _start_without_idle_marker(self, lines: list[str]) -> None:
        """The screen is quiet but shows none of the profile's idle markers. A CLI whose start
        hook has fired and that shows its input box is ready all the same (a new version may
        word its footer differently); the user is told which footer no rule matched. Without
        that evidence, once the start timeout has passed the pane says what the screen shows."""
        if self._session_started and self._rules.input_box_visible(lines):
            self.warn(f"ready by its start hook and input box; {self.screen_diagnosis()}")
            self._set_status(AgentStatus.IDLE, Source.HOOK)
            return
        started = self._started_at
        limit = self.profile.startup_timeout
        if started is not None and time.monotonic() - started > limit and not self._stuck_warned:
            self._stuck_warned = True
            self.warn(f"not ready after {limit:.0f} s: {self.screen_diagnosis()}")

    def _answer_startup_dialog(self, lines: list[str]) -> bool:
        """Answer a dialog that blocks the start with the profile's safe keys (again only if
        it is still there a while later)."""
        for answer, pattern in self._rules.startup_answers:
            if seen := self._rules.find([pattern], lines):
                now = time.monotonic()
                if now - self._startup_answered_at.get(answer.screen, 0.0) >= STARTUP_ANSWER_GAP:
                    self._startup_answered_at[answer.screen] = now
                    log.info("%s: answered %r at start (%s)", self.name, seen, answer.why)
                    self.session.write(answer.keys.encode())
                return True
        return False

    def _check_turn_timeout(self) -> bool:
        """Interrupt a turn that ran past the profile's turn_timeout (a hung agent)."""
        limit = self.profile.turn_timeout
        if (
            limit is None
            or self.status is not AgentStatus.WORKING
            or self._turn.started is None
            or self._turn.interrupted_at is not None
            or time.monotonic() - self._turn.started < limit
        ):
            return False
        log.warning("%s: turn ran over %.0f s; interrupting it", self.name, limit)
        self._turn.interrupted_at = time.monotonic()
        self.session.write(self.profile.interrupt_key.encode())
        return True

    def _snapshot_lines(self) -> list[str]:
        """Scrollback and screen, soft wraps joined, without the input box and below. Written
        trailing spaces are kept where the profile says they are text."""
        keep = self.profile.screen.trailing_spaces_are_text
        lines = self.session.screen.contents(trim=not keep).split("\n")
        return self._rules.above_input(self._rules.without_side_panel(lines))

    def _screen_reply(self) -> str:
        """The text this turn added to the screen (see ``screen.reply_from_screen``)."""
        return reply_from_screen(
            self._rules,
            self._turn.baseline or [],
            self._snapshot_lines(),
            self._turn.prompt or "",
            keep_spaces=self.profile.screen.trailing_spaces_are_text,
        )

    # --- delivery -----------------------------------------------------------------------------

    async def wait_until_ready(self, within: float | None = None) -> None:
        """Until the agent can take a prompt: idle (started, not mid-turn, not asking)."""
        limit = within if within is not None else self.profile.startup_timeout
        try:
            status = await self.wait_for_status(AgentStatus.IDLE, within=limit)
        except TimeoutError:
            raise DeliveryError(
                f"{self.name} did not become ready to take a prompt within {limit:.0f} s "
                f"(it is {self.status}; {self.screen_diagnosis()})"
            ) from None
        if status is AgentStatus.EXITED:
            raise DeliveryError(f"{self.name} has exited ({self._exit_text()})")

    def _exit_text(self) -> str:
        if self.exit is not None:
            return self.exit.description
        return self.session.error or "not running"

    async def deliver(self, text: str, *, ready_timeout: float | None = None) -> TurnHandle:
        """Submit ``text`` once (see ``_deliver``); the handle's ``reply()`` is this prompt's."""
        try:
            return await self._deliver(text, ready_timeout)
        finally:
            self._pasting = False

    async def _deliver(self, text: str, ready_timeout: float | None) -> TurnHandle:
        """Submit ``text`` exactly once and prove the CLI accepted it.

        The text goes as one bracketed paste (when the CLI enabled it), then, after the
        profile's pause, Enter alone. Proof is the prompt hook, a busy marker, the input box
        clearing, or the turn ending. Without proof only Enter is re-sent, a bounded number of
        times: re-sending the text could submit it twice. One delivery at a time per agent.
        """
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text.strip():
            raise DeliveryError("nothing to deliver: the text is empty")
        text = guard_prompt(text, self.profile)
        async with self._delivery_lock:
            await self.wait_until_ready(ready_timeout)
            started = time.monotonic()
            prompts_before = len(self._prompt_events)
            turns_before = self.turns
            self._turn.baseline = self._snapshot_lines()
            self._turn.prompt = text
            empty_box = self._rules.input_text(self.screen_lines())
            self._pasting = True
            for piece in paste_pieces(text, self.profile):
                self.session.paste(piece)
            await asyncio.sleep(self.profile.paste_enter_delay)  # the CLI's own paste guard
            # "Input box cleared" counts as proof only if the paste visibly filled the box.
            pasted_box = self._rules.input_text(self.screen_lines())
            box_proof = empty_box if pasted_box and pasted_box != empty_box else None
            submit = self.profile.submit_key.encode()
            for press in range(1, self.profile.submit_retries + 2):
                self.session.write(submit)
                how = await self._await_proof(
                    prompts_before, turns_before, box_proof, self.profile.submit_proof_timeout
                )
                if how is not None:
                    source = Source.HOOK if how == "prompt hook" else Source.SCREEN
                    if how != "prompt hook":
                        self._set_status(AgentStatus.WORKING, Source.DELIVERY)
                        self._emit(PromptAccepted(self.name, text, source))
                    proof = DeliveryProof(source, how, press, time.monotonic() - started)
                    return TurnHandle(self, turns_before + 1, proof)
                if self.status is AgentStatus.EXITED:
                    break
            self._turn.prompt = None
            raise DeliveryError(
                f"{self.name} did not accept the prompt after "
                f"{self.profile.submit_retries + 1} Enter presses ("
                + (
                    self._exit_text()
                    if self.status is AgentStatus.EXITED
                    else self.screen_diagnosis()
                )
                + ")"
            )

    async def _await_proof(
        self, prompts_before: int, turns_before: int, empty_box: str | None, within: float
    ) -> str | None:
        """Proof that the Enter just sent submitted the prompt. The agent was idle before, so a
        busy marker now, the box back to its empty state, or a permission prompt that is not
        the pasted text itself, can only mean it took ours."""
        deadline = time.monotonic() + within
        screen_proof: str | None = None
        while True:
            if self.has_hooks:
                self._read_events()
            if len(self._prompt_events) > prompts_before:
                return "prompt hook"
            if self.turns > turns_before:
                return "turn ended"
            if self.status is AgentStatus.EXITED:
                return screen_proof
            if screen_proof is None:
                lines = self.screen_lines()
                asking = self._rules.find(self._rules.approval, self._rules.approval_region(lines))
                if self._rules.find(self._rules.busy, self._rules.status_region(lines)):
                    screen_proof = "busy marker"
                elif empty_box is not None and self._rules.input_text(lines) == empty_box:
                    screen_proof = "input box cleared"
                elif asking is not None and not _quotes(self._turn.prompt or "", asking):
                    # The CLI already asks permission for its first tool: it took the prompt.
                    # (Another Enter now would answer "yes" to that question.)
                    screen_proof = "approval prompt"
                if screen_proof is not None and not self._has_prompt_hook:
                    return screen_proof
                if screen_proof is not None:
                    # Enter was taken; give the CLI's prompt hook (exact text) a moment.
                    deadline = min(deadline, time.monotonic() + PROMPT_HOOK_GRACE)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return screen_proof
            await asyncio.sleep(min(0.01, remaining))

    @property
    def _has_prompt_hook(self) -> bool:
        """Every CLI with hooks here also reports accepted prompts (Codex since its per-launch
        hooks table: UserPromptSubmit)."""
        return self.has_hooks

    # --- approvals ----------------------------------------------------------------------------

    def approve(self, *, always: bool = False, by: str = "user") -> None:
        """Answer the permission prompt with the CLI's own 'yes' key."""
        keys = self.profile.approval_keys
        key = keys.approve_always if always and keys.approve_always else keys.approve
        self.approvals.answer(key)
        self._emit(ApprovalAnswered(self.name, True, by, self.approvals.detail()))

    def deny(self, *, by: str = "user") -> None:
        if self.status is AgentStatus.NEEDS_APPROVAL:
            self._turn.denied_at = time.monotonic()
        self.approvals.answer(self.profile.approval_keys.deny)
        self._emit(ApprovalAnswered(self.name, False, by, self.approvals.detail()))


def _quotes(prompt: str, line: str) -> bool:
    """Whether a screen line that looks like a permission prompt is the pasted prompt's own
    text, still in the input box: compared without the box's borders and padding."""
    inner = box_inner(line)
    return bool(inner) and inner in " ".join(prompt.split())
