"""What the agent layer tells the rest of coder-tui, as plain dataclasses (no Textual)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum


class AgentStatus(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    WORKING = "working"
    NEEDS_APPROVAL = "needs-approval"
    EXITED = "exited"


class Source(StrEnum):
    """Where a status or a reply came from, so a user can judge how sure it is."""

    HOOK = "hook"
    SCREEN = "screen"
    QUIESCENCE = "quiescence"
    DELIVERY = "delivery"
    TIMEOUT = "timeout"
    EXIT = "exit"


@dataclass(frozen=True)
class AgentEvent:
    agent: str
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class StatusChanged(AgentEvent):
    old: AgentStatus
    new: AgentStatus
    source: Source
    detail: str = ""


@dataclass(frozen=True)
class PromptAccepted(AgentEvent):
    """The CLI took a prompt (proof of submission)."""

    prompt: str
    source: Source


@dataclass(frozen=True)
class TurnEnded(AgentEvent):
    """A turn finished; ``reply`` is the agent's last message, exactly when from a hook."""

    reply: str
    source: Source
    turn: int
    timed_out: bool = False  # the turn ran past the profile's turn_timeout and was interrupted


@dataclass(frozen=True)
class ApprovalRequested(AgentEvent):
    detail: str
    source: Source


class ApprovalPolicy(StrEnum):
    """What coder-tui does when an agent asks for permission. Explicit and shown per agent;
    anything but ASK is chosen by the user or the template, never by default."""

    ASK = "ask"  # show it to the user, answer nothing
    APPROVE_EDITS = "approve-edits"  # approve file edits, ask for everything else
    APPROVE_ALL = "approve-all"


@dataclass(frozen=True)
class ApprovalAnswered(AgentEvent):
    approved: bool
    by: str  # "user" or the policy's name
    detail: str


@dataclass(frozen=True)
class AgentExited(AgentEvent):
    exit_code: int | None
    description: str


@dataclass(frozen=True)
class AgentWarning(AgentEvent):
    """Something the user must know about this agent that is not a status: the installed CLI
    is newer than its profile was checked with, its screen fits no rule of the profile, or it
    reports a permission mode that does not ask although approvals were not skipped."""

    message: str
