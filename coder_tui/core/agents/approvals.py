"""Permission prompts: who announced one (a hook, the screen), whether it was drawn, which tool
it is about, the answer typed and whether the CLI took it, and the approval policy's judgement.

Decisions are made on what the CLI reports (its hook's tool and input, its own prompt), never on
text a model wrote.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from coder_tui.core.agents.events import AgentStatus, ApprovalPolicy

if TYPE_CHECKING:
    from coder_tui.core.agents.agent import Agent

log = logging.getLogger(__name__)

ANSWER_RESEND_AFTER = 1.0  # quiet seconds, prompt still up, after which an answer was dropped
ANSWER_RESENDS = 2
APPROVAL_DRAW_WAIT = 10.0  # seconds an early answer waits for the approval prompt to be drawn
LATE_APPROVAL_NOTICE = 15.0  # seconds after a prompt went away in which a hook about it is stale


class ApprovalDesk:
    """One agent's permission prompts. The agent tells it what it sees (``opened``, ``drawn``,
    ``gone``, a hook's ``announced_by_hook`` and ``tool``); it answers them by policy or for
    the user, and types the answer again if the CLI dropped it."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.tool: tuple[str, object] | None = None  # the tool a hook said runs next
        self.drawn = False  # the prompt a hook announced has been on screen
        self._announced_at = 0.0  # when a hook announced the prompt
        self._gone_at: float | None = None  # when the last prompt went away
        self._judged = False  # the policy judged the prompt now open
        self._waiting_answer: tuple[str, float] | None = None  # key, send-by deadline
        self._answer_typed: tuple[str, float, int] | None = None  # key, when, times re-typed

    # --- what the agent sees ------------------------------------------------------------------

    def opened(self) -> None:
        """A new prompt is open (the status became needs-approval)."""
        self._judged = False

    def gone(self) -> None:
        self._gone_at = time.monotonic()

    def never_drawn(self) -> bool:
        """A prompt a hook announced was not drawn in the time a CLI takes to draw one."""
        return time.monotonic() - self._announced_at > APPROVAL_DRAW_WAIT

    def announced_by_hook(self, detail: str) -> None:
        """A hook says the CLI asks for permission. It may come before the prompt is drawn
        (Codex, ~1 s early) or long after (Claude's Notification, ~6 s late, possibly after
        the prompt was already answered): a late notice of an answered prompt is ignored."""
        agent = self.agent
        if agent.status is AgentStatus.NEEDS_APPROVAL:
            return
        gone = self._gone_at
        recently_gone = gone is not None and time.monotonic() - gone < LATE_APPROVAL_NOTICE
        if recently_gone and not self.on_screen():
            return
        self.drawn = False
        self._announced_at = time.monotonic()
        agent.hook_says_approval(detail)

    def on_screen(self) -> bool:
        rules = self.agent.rules
        return (
            rules.find(rules.approval, rules.approval_region(self.agent.screen_lines())) is not None
        )

    def detail(self) -> str:
        rules = self.agent.rules
        return rules.find(rules.approval, self.agent.screen_lines()) or ""

    # --- answers ------------------------------------------------------------------------------

    def apply_policy(self) -> None:
        """Answer the prompt by the agent's explicit policy, or leave it to the user.

        approve-edits approves only what the CLI itself says is a file edit inside the working
        folder: the tool its hook named (name and paths from the tool input), or, for a CLI
        whose hook named none (or a profile that lists no edit tools), the prompt once drawn.
        Anything else waits for the user."""
        agent = self.agent
        policy = agent.policy
        if policy is ApprovalPolicy.ASK or self._judged:
            return
        if policy is ApprovalPolicy.APPROVE_ALL:
            self._judged = True
            agent.approve(by=str(policy))
            return
        edit_tools = agent.profile.edit_tools
        if self.tool is not None and edit_tools:
            self._judged = True
            if is_edit_in(self.tool, edit_tools, agent.spec.cwd):
                agent.approve(by=str(policy))
            return
        if edit_tools and agent.profile.adapter is not None and self.tool is None:
            # Its hooks name the tool: wait for them (the prompt can be drawn before the hook's
            # line is read, and the drawn text alone is no proof of where the edit goes).
            return
        rules = agent.rules
        region = rules.approval_region(agent.screen_lines())
        if rules.find(rules.approval, region) is None:
            return  # announced by a hook, not drawn yet: judged once it is on screen
        self._judged = True
        if rules.find(rules.approval_edit, region) is not None:
            agent.approve(by=str(policy))

    def answer(self, key: str) -> None:
        """Send the answer once the prompt is on screen. A hook can announce the approval
        before the CLI has drawn it (Codex's PermissionRequest comes ~1 s early): a key sent
        then would land in the input box instead."""
        if self.on_screen() or not self.agent.rules.approval:
            self._type(key)
            return
        self._waiting_answer = (key, time.monotonic() + APPROVAL_DRAW_WAIT)
        self.agent.screen_changed()

    def send_pending(self, approval_visible: bool) -> None:
        """An answer given before the prompt was drawn goes now that it is (or is dropped
        when it never came)."""
        if self._waiting_answer is None:
            return
        key, deadline = self._waiting_answer
        if approval_visible:
            self._waiting_answer = None
            self._type(key)
        elif time.monotonic() > deadline:
            self._waiting_answer = None
            log.warning(
                "%s: the approval prompt never showed; answer %r not sent", self.agent.name, key
            )

    def _type(self, key: str, resends: int = 0) -> None:
        """Type the answer and remember when: Claude Code drops a key that comes right as its
        prompt appears (often on a loaded machine)."""
        self.agent.session.write(key.encode())
        self._answer_typed = (key, time.monotonic(), resends)

    def resend_ignored(self) -> None:
        """The prompt is still up, and the screen has not changed for a while since our answer:
        the CLI never saw the key (a CLI that takes one redraws at once). Type it again, a
        bounded number of times. Output alone is no proof the key was taken: Claude may still
        be drawing its prompt when the key is lost (seen in CI)."""
        if self._answer_typed is None:
            return
        key, typed_at, resends = self._answer_typed
        agent = self.agent
        if agent.status is not AgentStatus.NEEDS_APPROVAL or not self.on_screen():
            self._answer_typed = None
            return
        settled = time.monotonic() - max(typed_at, agent.last_change) >= ANSWER_RESEND_AFTER
        if settled and resends < ANSWER_RESENDS:
            log.info("%s: the approval answer %r was not taken; typing it again", agent.name, key)
            self._type(key, resends + 1)


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
