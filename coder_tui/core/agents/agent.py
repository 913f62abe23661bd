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
import re
import shutil
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import watchfiles

from coder_tui.core.agents.adapters import NO_HOOKS, HookEventKind, NormalizedHookEvent
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
from coder_tui.core.agents.profile import AgentProfile
from coder_tui.core.agents.versions import (
    checked_range,
    fit_warning,
    probe_version,
    version_number,
)
from coder_tui.core.cellwidths import char_width, text_width
from coder_tui.core.pty import PtyExit
from coder_tui.core.session import TerminalSession
from coder_tui.core.tasks import spawn

log = logging.getLogger(__name__)

INPUT_BOX_ROWS = 10  # the most rows between an input box's top and bottom borders
SCREEN_CHECK_INTERVAL = 0.05  # seconds between screen-rule evaluations while output flows
PROMPT_HOOK_GRACE = 1.0  # seconds to wait for the prompt hook once the screen proved the submit
HOOK_MISS_QUIET = 5.0  # quiet seconds with the idle marker that end a turn whose hook was missed
ANSWER_RESEND_AFTER = 1.0  # quiet seconds, prompt still up, after which an answer was dropped
ANSWER_RESENDS = 2
KEPT_REPLIES = 64  # replies kept by turn number for TurnHandle.reply (a late reader's window)
APPROVAL_DRAW_WAIT = 10.0  # seconds an early answer waits for the approval prompt to be drawn
LATE_APPROVAL_NOTICE = 15.0  # seconds after a prompt went away in which a hook about it is stale
STARTUP_ANSWER_GAP = 2.0  # seconds before a startup dialog that is still there is answered again
APPROVAL_LINES = 16  # bottom lines where a permission prompt is looked for


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
        self._rules = _CompiledRules(profile)
        self._events_offset = 0
        self._prompt_events: list[str] = []
        self._ended_turn_ids: list[str] = []
        self._pending_answer: tuple[str, float] | None = None  # approval key, send-by deadline
        self._approval_drawn = False  # the approval a hook announced has been on screen
        self._hook_approval_at = 0.0
        self._approval_gone_at: float | None = None
        self._startup_answered_at: dict[str, float] = {}
        self._delivery_lock = asyncio.Lock()
        self._status_changed = asyncio.Event()
        self._turn_ended = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None
        self._screen_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._last_change = time.monotonic()
        self._screen_dirty = asyncio.Event()
        self._turn_baseline: list[str] | None = None
        self._pending_prompt: str | None = None
        self._turn_started: float | None = None
        self._pasting = False  # between a delivery's paste and its proof of submission
        self._interrupted_at: float | None = None
        self._denied_at: float | None = None  # coder-tui denied an approval in this turn
        self._session_started = False  # the CLI's start hook fired
        self._pending_tool: tuple[str, object] | None = None  # the tool a hook said runs next
        self._policy_applied = False  # the policy judged the approval now open
        # The last approval key typed: key, when, the output count then, times re-typed.
        self._answer_sent: tuple[str, float, int] | None = None
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
            self._turn_started = time.monotonic()
        self._status_changed.set()
        self._status_changed = asyncio.Event()
        self._emit(StatusChanged(self.name, old, new, source, detail))
        if new is AgentStatus.NEEDS_APPROVAL:
            self._policy_applied = False
            self._emit(ApprovalRequested(self.name, detail, source))
            self._apply_policy()

    def _apply_policy(self) -> None:
        """Answer a permission prompt by the agent's explicit policy, or leave it to the user.

        approve-edits approves only what the CLI itself says is a file edit inside the working
        folder: the tool its hook named (name and paths from the tool input), or, for a CLI
        whose hook named none (or a profile that lists no edit tools), the prompt once drawn.
        Anything else waits for the user."""
        if self.policy is ApprovalPolicy.ASK or self._policy_applied:
            return
        if self.policy is ApprovalPolicy.APPROVE_ALL:
            self._policy_applied = True
            self.approve(by=str(self.policy))
            return
        if self._pending_tool is not None and self.profile.edit_tools:
            self._policy_applied = True
            if is_edit_in(self._pending_tool, self.profile.edit_tools, self.spec.cwd):
                self.approve(by=str(self.policy))
            return
        region = self._rules.approval_region(self.screen_lines())
        if self._rules.find(self._rules.approval, region) is None:
            return  # announced by a hook, not drawn yet: judged once it is on screen
        self._policy_applied = True
        if self._rules.find(self._rules.approval_edit, region) is not None:
            self.approve(by=str(self.policy))

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
            self._pending_tool = (event.tool, event.tool_input)
        elif kind is HookEventKind.APPROVAL_REQUESTED:
            if event.tool:
                self._pending_tool = (event.tool, event.tool_input)
            self._hook_approval(event.detail)
        elif kind is HookEventKind.TOOL_FINISHED:
            self._pending_tool = None
            if self.status is AgentStatus.NEEDS_APPROVAL:
                self._set_status(AgentStatus.WORKING, Source.HOOK)
        elif kind is HookEventKind.TURN_INTERRUPTED:
            if self.status in (AgentStatus.WORKING, AgentStatus.NEEDS_APPROVAL):
                self._remember_turn(event.turn_id)
                self._end_turn(self._screen_reply(), Source.HOOK)
        elif kind is HookEventKind.PROMPT_ACCEPTED:
            self._denied_at = None  # a new turn
            self._pending_tool = None
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

    def _hook_approval(self, detail: str) -> None:
        """A hook says the CLI asks for permission. It may come before the prompt is drawn
        (Codex, ~1 s early) or long after (Claude's Notification, ~6 s late, possibly after
        the prompt was already answered): a late notice of an answered prompt is ignored."""
        if self.status is AgentStatus.NEEDS_APPROVAL:
            return
        gone = self._approval_gone_at
        recently_gone = gone is not None and time.monotonic() - gone < LATE_APPROVAL_NOTICE
        if recently_gone and not self._approval_on_screen():
            return
        self._approval_drawn = False
        self._hook_approval_at = time.monotonic()
        self._set_status(AgentStatus.NEEDS_APPROVAL, Source.HOOK, detail)

    def _remember_turn(self, turn_id: str) -> None:
        """A CLI may report a turn's end twice (Codex: Stop hook, then notify): count it once."""
        if turn_id:
            self._ended_turn_ids.append(turn_id)
            del self._ended_turn_ids[:-32]

    def _end_turn(self, reply: str, source: Source) -> None:
        timed_out = self._interrupted_at is not None
        self.turns += 1
        self.last_reply = reply
        self._replies[self.turns] = reply
        for old in [n for n in self._replies if n <= self.turns - KEPT_REPLIES]:
            del self._replies[old]
        self._turn_baseline = None
        self._pending_prompt = None
        self._turn_started = None
        self._interrupted_at = None
        self._denied_at = None
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

    # --- screen -------------------------------------------------------------------------------

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
        self._send_pending_answer(approval is not None)
        self._resend_ignored_answer()
        if self.status is AgentStatus.IDLE and self._has_prompt_hook:
            # A new turn of a CLI with a prompt hook starts with that hook (typed in the pane
            # or delivered). What the screen shows while idle is the last turn's frame not yet
            # redrawn (its Stop hook can come first): a stale spinner or approval prompt.
            return
        if approval is not None:
            self._approval_drawn = True
            self._set_status(AgentStatus.NEEDS_APPROVAL, Source.SCREEN, approval)
            self._apply_policy()  # a prompt a hook announced early is judged once drawn
            return
        status_lines = rules.status_region(lines)
        busy = rules.find(rules.busy, status_lines) is not None
        idle_marker = not rules.idle or rules.find(rules.idle, rules.idle_region(lines)) is not None
        if self.status is AgentStatus.NEEDS_APPROVAL:
            # The prompt went away: answered (here or in the pane), so the turn goes on. A
            # prompt a hook announced counts as gone only once it was drawn (or never came).
            drawn_and_gone = self.status_source is Source.SCREEN or self._approval_drawn
            never_drawn = (
                time.monotonic() - self._hook_approval_at > APPROVAL_DRAW_WAIT
                and rules.input_box_visible(lines)
            )
            if drawn_and_gone or never_drawn:
                self._approval_gone_at = time.monotonic()
                self._set_status(AgentStatus.WORKING, Source.SCREEN)
            return
        if self._check_turn_timeout():
            return
        if self.status is AgentStatus.WORKING and self._interrupted_at is not None:
            # We interrupted a hung turn: the CLI may send no turn-end hook for that.
            if idle_marker and not busy and quiet_for >= min(1.0, self.profile.screen.quiescence):
                self._end_turn(self._screen_reply(), Source.TIMEOUT)
            return
        if (
            self.status is AgentStatus.WORKING
            and self._denied_at is not None
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
            or self._turn_started is None
            or self._interrupted_at is not None
            or time.monotonic() - self._turn_started < limit
        ):
            return False
        log.warning("%s: turn ran over %.0f s; interrupting it", self.name, limit)
        self._interrupted_at = time.monotonic()
        self.session.write(self.profile.interrupt_key.encode())
        return True

    def _snapshot_lines(self) -> list[str]:
        """Scrollback and screen, soft wraps joined, without the input box and below. Written
        trailing spaces are kept where the profile says they are text."""
        keep = self.profile.screen.trailing_spaces_are_text
        lines = self.session.screen.contents(trim=not keep).split("\n")
        return self._rules.above_input(self._rules.without_side_panel(lines))

    def _screen_reply(self) -> str:
        """The text the turn added to the screen: what follows the last lines that were there
        at submit, after the CLI's echo of the prompt, without busy markers and the reply
        block's decoration.

        Where trailing spaces are text, a line the CLI wrote (even only its indent) is part of
        the reply and only rows it never wrote (spacers) are cut from its ends, so blank lines
        and trailing spaces of the reply survive. Otherwise a screen cannot tell them from
        padding: blank lines at the ends and trailing spaces are dropped."""
        keep = self.profile.screen.trailing_spaces_are_text
        prompt = self._pending_prompt or ""
        after = self._snapshot_lines()
        added = after[_turn_start(self._turn_baseline or [], after, prompt) :]
        at = 0
        while at < len(added) and not added[at].strip():
            at += 1
        echo = _echo_length(added[at:], prompt)
        at += echo
        if keep and echo:
            # The echo's own trailing blank lines (the prompt's), drawn with the CLI's indent.
            for _ in range(_trailing_blank_lines(prompt)):
                if at < len(added) and added[at] and not added[at].strip():
                    at += 1
        noise = self._rules.busy + self._rules.not_reply
        reply = [line for line in added[at:] if self._rules.find(noise, [line]) is None]
        if keep:
            while reply and not reply[0]:
                reply.pop(0)
            while reply and not reply[-1]:
                reply.pop()
            return "\n".join(self._rules.strip_decoration(reply))
        lines = self._rules.strip_decoration(reply)
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(line.rstrip() for line in lines)

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
            self._turn_baseline = self._snapshot_lines()
            self._pending_prompt = text
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
            self._pending_prompt = None
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
                elif asking is not None and asking not in (self._pending_prompt or ""):
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
        self._answer_approval(key)
        self._emit(ApprovalAnswered(self.name, True, by, self._approval_detail()))

    def deny(self, *, by: str = "user") -> None:
        if self.status is AgentStatus.NEEDS_APPROVAL:
            self._denied_at = time.monotonic()
        self._answer_approval(self.profile.approval_keys.deny)
        self._emit(ApprovalAnswered(self.name, False, by, self._approval_detail()))

    def _answer_approval(self, key: str) -> None:
        """Send the answer once the prompt is on screen. A hook can announce the approval
        before the CLI has drawn it (Codex's PermissionRequest comes ~1 s early): a key sent
        then would land in the input box instead."""
        if self._approval_on_screen() or not self._rules.approval:
            self._write_answer(key)
            return
        self._pending_answer = (key, time.monotonic() + APPROVAL_DRAW_WAIT)
        self._screen_dirty.set()

    def _write_answer(self, key: str, resends: int = 0) -> None:
        """Type the answer and remember when: Claude Code drops a key that comes right as its
        prompt appears (often on a loaded machine)."""
        self.session.write(key.encode())
        self._answer_sent = (key, time.monotonic(), resends)

    def _resend_ignored_answer(self) -> None:
        """The prompt is still up, and the screen has not changed for a while since our answer:
        the CLI never saw the key (a CLI that takes one redraws at once). Type it again, a
        bounded number of times. Output alone is no proof the key was taken: Claude may still
        be drawing its prompt when the key is lost (seen in CI)."""
        if self._answer_sent is None:
            return
        key, sent_at, resends = self._answer_sent
        if self.status is not AgentStatus.NEEDS_APPROVAL or not self._approval_on_screen():
            self._answer_sent = None
            return
        now = time.monotonic()
        settled = now - max(sent_at, self._last_change) >= ANSWER_RESEND_AFTER
        if settled and resends < ANSWER_RESENDS:
            log.info("%s: the approval answer %r was not taken; typing it again", self.name, key)
            self._write_answer(key, resends + 1)

    def _approval_on_screen(self) -> bool:
        lines = self.screen_lines()
        return (
            self._rules.find(self._rules.approval, self._rules.approval_region(lines)) is not None
        )

    def _send_pending_answer(self, approval_visible: bool) -> None:
        if self._pending_answer is None:
            return
        key, deadline = self._pending_answer
        if approval_visible:
            self._pending_answer = None
            self._write_answer(key)
        elif time.monotonic() > deadline:
            self._pending_answer = None
            log.warning("%s: the approval prompt never showed; answer %r not sent", self.name, key)

    def _approval_detail(self) -> str:
        return self._rules.find(self._rules.approval, self.screen_lines()) or ""


def guard_prompt(text: str, profile: AgentProfile) -> str:
    """``text`` with the profile's escape in front when it would otherwise start with one of
    the characters that make the CLI run it as a command: a model's reply forwarded as a
    prompt must never run in a shell. Invisible format characters and white space are looked
    through, as the CLI does."""
    guard = profile.prompt_guard
    if guard is None:
        return text
    visible = text.lstrip()
    while visible and unicodedata.category(visible[0]) == "Cf":
        visible = visible[1:].lstrip()
    if any(visible.startswith(start) for start in guard.starts):
        return guard.escape + text
    return text


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def paste_pieces(text: str, profile: AgentProfile) -> list[str]:
    """``text`` cut into the pastes the profile allows (whole when it sets no limits): line
    by line, a line longer than a piece cut at character boundaries."""
    limits = profile.paste_chunks
    if limits is None:
        return [text]
    pieces: list[str] = []
    piece, newlines, length = "", 0, 0
    for line in text.splitlines(keepends=True):
        breaks = line.count("\n")
        size = utf16_length(line)
        if piece and (newlines + breaks > limits.max_newlines or length + size > limits.max_length):
            pieces.append(piece)
            piece, newlines, length = "", 0, 0
        while size > limits.max_length:  # one line alone is too long
            cut, used = 0, 0
            while cut < len(line) and used + utf16_length(line[cut]) <= limits.max_length:
                used += utf16_length(line[cut])
                cut += 1
            pieces.append(line[:cut])
            line = line[cut:]
            size = utf16_length(line)
        piece += line
        newlines += breaks
        length += size
    if piece:
        pieces.append(piece)
    return pieces


_PATCH_PATHS = re.compile(r"^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+)$", re.M)
_PATH_KEYS = ("file_path", "notebook_path", "path", "absolute_path")


def edited_paths(tool_input: object) -> list[str]:
    """The files a tool call would change, from its input as the CLI reported it: a path
    field (Claude's Write/Edit, Gemini's write_file/replace) or the headers of a Codex patch."""
    if isinstance(tool_input, str):
        text = tool_input
        try:
            tool_input = json.loads(text)
        except ValueError:
            return _PATCH_PATHS.findall(text)
    if not isinstance(tool_input, dict):
        return []
    found = [str(tool_input[key]) for key in _PATH_KEYS if isinstance(tool_input.get(key), str)]
    for key in ("command", "patch", "input"):
        if isinstance(tool_input.get(key), str):
            found += _PATCH_PATHS.findall(tool_input[key])
    return [path.strip() for path in found]


def is_edit_in(tool: tuple[str, object], edit_tools: list[str], cwd: Path) -> bool:
    """Whether the tool call is a file edit (by the profile's list of edit tools) whose every
    file lies inside ``cwd``. A tool that names no file is not provably an edit."""
    name, tool_input = tool
    if name not in edit_tools:
        return False
    files = edited_paths(tool_input)
    root = cwd.resolve()
    return bool(files) and all((root / path).resolve().is_relative_to(root) for path in files)


PROMPT_MARKS = {">", "›", "❯"}  # how the CLIs mark the echo of a prompt in their transcript
ANCHOR_LINES = 6  # non-empty lines from before the turn that locate where its output starts


def _turn_start(before: list[str], after: list[str], prompt: str = "") -> int:
    """Index in ``after`` where the turn's output begins: just past the last lines that were
    on screen at submit. Anchoring on those (not on a common prefix) keeps working once the
    scrollback is full and old rows are dropped from the top."""
    anchor = [line for line in before if line.strip()][-ANCHOR_LINES:]
    if not anchor:
        return 0
    # The anchor can only have moved up (history trimmed from the top), never down: search
    # from its old place upwards, so a turn whose own output repeats it is not mistaken for it.
    for end in range(min(len(after), len(before)), 0, -1):
        window = [line for line in after[:end] if line.strip()][-len(anchor) :]
        if window == anchor and after[end - 1].strip():
            return end
    # Not found: the CLI redrew everything (Claude relays out its transcript when its side
    # panel opens). The turn then starts at the last echo of its prompt, if there is one.
    for index in range(len(after) - 1, -1, -1):
        if after[index].strip()[:1] in PROMPT_MARKS and _echo_length(after[index:], prompt):
            return index
    # Else the common prefix.
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    return start


def _trailing_blank_lines(text: str) -> int:
    """How many of ``text``'s last lines are blank (only white space)."""
    lines = text.split("\n")
    count = 0
    while count < len(lines) - 1 and not lines[-1 - count].strip():
        count += 1
    return count


def _echo_length(lines: list[str], prompt: str) -> int:
    """How many of ``lines`` are the CLI's echo of the prompt. Compared without white space,
    because the CLI wraps a long prompt line over several rows with its own indent."""
    wanted = "".join(prompt.split())
    if not wanted:
        return 0
    seen = ""
    count = 0
    for index, line in enumerate(lines):
        shown = line.strip()
        marked = index == 0 and shown[:1] in PROMPT_MARKS
        if marked:
            shown = shown[1:]
        piece = "".join(shown.split())
        if not piece and (marked or (count and seen != wanted)):
            count += 1  # the mark alone (a blank first line), or a blank line inside the prompt
            continue
        if not piece or not wanted.startswith(seen + piece):
            break
        seen += piece
        count += 1
        if seen == wanted:
            break
    return count if seen else 0


@dataclass(frozen=True)
class ScreenReading:
    """What a profile's screen rules see on one screen, without any timing: the pure part of
    the status logic, so recorded screens can be checked against a profile without a CLI."""

    busy: str | None  # the busy marker found in the status region
    idle: str | None  # the idle marker found in the idle region
    approval: str | None  # the approval prompt found in the approval region
    input_box: bool  # the input box is on screen

    @property
    def state(self) -> str:
        """ "approval", "busy", "idle", or "unknown" (no rule fits: the profile may not fit)."""
        if self.approval is not None:
            return "approval"
        if self.busy is not None:
            return "busy"
        if self.idle is not None:
            return "idle"
        return "unknown"


def read_screen(profile: AgentProfile, lines: list[str]) -> ScreenReading:
    """Apply ``profile``'s screen rules to ``lines`` (a screen's text, one row a line)."""
    rules = _CompiledRules(profile)
    return rules.read(lines)


def _cut_at_column(line: str, divider: str, column: int) -> str:
    """``line`` up to the divider that stands at screen ``column``, or whole if none does. A
    row that is the divider and panel text alone lost its blank cells before the divider (the
    formatter that joins wrapped rows drops cells that were never written): nothing is kept."""
    if line.startswith(divider) and line.count(divider) == 1:
        return ""
    width = 0
    for index, char in enumerate(line):
        if width == column:
            return line[:index].rstrip() if char == divider else line
        if width > column:
            return line
        width += char_width(char)
    return line


class _CompiledRules:
    """The profile's screen regexes, compiled once."""

    DECORATION = re.compile(r"^(?:⏺|●|✦|•|⎿)\s?")

    def __init__(self, profile: AgentProfile) -> None:
        rules = profile.screen
        self.busy = [re.compile(p) for p in rules.busy]
        self.idle = [re.compile(p) for p in rules.idle]
        self.approval = [re.compile(p) for p in rules.approval]
        self.approval_edit = [re.compile(p) for p in rules.approval_edit]
        self.input_box = re.compile(rules.input_box) if rules.input_box else None
        self.side_panel = re.compile(rules.side_panel) if rules.side_panel else None
        self.not_reply = [re.compile(p) for p in rules.not_reply]
        self.rows_above = rules.status_rows_above
        self.box_bottom = re.compile(rules.input_box_bottom) if rules.input_box_bottom else None
        self.footer_rows = rules.footer_rows
        self.divider = rules.side_panel_divider
        self.startup_answers = [(a, re.compile(a.screen)) for a in profile.startup_answers]

    def without_side_panel(self, lines: list[str]) -> list[str]:
        """``lines`` with an open side panel cut off: rows that hold the divider at the panel's
        screen column end just before it (other rows, such as a full-width input box and
        footer, and scrollback from before it opened, are kept as they are)."""
        if self.side_panel is None or not any(self.side_panel.search(line) for line in lines):
            return lines
        columns: Counter[int] = Counter()
        for line in lines:
            at = line.rfind(self.divider)
            if at > 0:
                columns[text_width(line[:at])] += 1
        if not columns:
            return lines
        column, rows = columns.most_common(1)[0]
        if rows < 3:
            return lines
        return [_cut_at_column(line, self.divider, column) for line in lines]

    def read(self, lines: list[str]) -> ScreenReading:
        idle = self.find(self.idle, self.idle_region(lines)) if self.idle else None
        return ScreenReading(
            busy=self.find(self.busy, self.status_region(lines)),
            idle=idle,
            approval=self.find(self.approval, self.approval_region(lines)),
            input_box=self.input_box_visible(lines),
        )

    @staticmethod
    def find(patterns: list[re.Pattern[str]], lines: list[str]) -> str | None:
        for line in lines:
            for pattern in patterns:
                if pattern.search(line):
                    return line.strip()
        return None

    def _input_start(self, lines: list[str]) -> int | None:
        """The row of the input box's first line: the last row that matches ``input_box``, or,
        for a box whose bottom border matches it too (Claude's two rules), the top border just
        above that bottom (at most INPUT_BOX_ROWS rows up)."""
        if self.input_box is None:
            return None
        for index in range(len(lines) - 1, -1, -1):
            if self.input_box.search(lines[index]):
                if self.box_bottom is not None and self.box_bottom.search(lines[index]):
                    for top in range(index - 1, max(-1, index - INPUT_BOX_ROWS - 1), -1):
                        if self.input_box.search(lines[top]):
                            return top
                return index
        return None

    def input_box_visible(self, lines: list[str]) -> bool:
        return self._input_start(lines) is not None

    def status_region(self, lines: list[str]) -> list[str]:
        """Where a CLI shows that it is busy: the lines just above its input box (the spinner)
        and the footer below it. Not the transcript: a reply that merely contains the words
        "esc to interrupt" must not keep the agent 'working'."""
        start = self._input_start(lines)
        filled = [line for line in lines if line.strip()]
        if start is None:
            return filled[-(self.rows_above + self.footer_rows) :]
        return lines[max(0, start - self.rows_above) : start] + filled[-self.footer_rows :]

    def idle_region(self, lines: list[str]) -> list[str]:
        """Where an idle marker counts: the status region plus the input box's first line,
        where Gemini and Codex show their empty-box placeholder. (Busy markers are not looked
        for there: a pasted prompt may quote them.)"""
        start = self._input_start(lines)
        region = self.status_region(lines)
        return region if start is None else [*region, lines[start]]

    def approval_region(self, lines: list[str]) -> list[str]:
        """Where a permission prompt appears: in place of the input box (the last box on the
        screen) and below it. The transcript above is excluded: a reply or an echoed prompt
        that quotes 'Do you want to create' is text, not a question."""
        start = self._input_start(lines)
        if start is not None:
            return lines[start:]
        return [line for line in lines if line.strip()][-APPROVAL_LINES:]

    def above_input(self, lines: list[str]) -> list[str]:
        start = self._input_start(lines)
        return lines if start is None else lines[:start]

    def input_text(self, lines: list[str]) -> str:
        start = self._input_start(lines)
        return "" if start is None else "\n".join(lines[start:])

    def strip_decoration(self, lines: list[str]) -> list[str]:
        """Remove a reply block's leading marker ("⏺ ") and the hanging indent of the same
        width that the CLI puts before the block's following lines (blank lines inside the
        block keep the indent going)."""
        out: list[str] = []
        indent = ""
        for line in lines:
            match = self.DECORATION.match(line)
            if match:
                indent = " " * len(match.group(0))
                out.append(line[match.end() :])
            elif indent and (line.startswith(indent) or not line.strip()):
                out.append(line[len(indent) :])
            else:
                indent = ""
                out.append(line)
        return out
