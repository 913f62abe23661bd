"""What an adapter is: everything one agent CLI needs beyond its YAML profile.

A profile says, as data, how a CLI looks and is driven. What takes code lives in the CLI's
adapter: how its hooks and settings are added for one launch (never in the user's own config),
how its hook payloads map onto the few events the agent layer understands, and how its own
transcript is read where a hook's reply text cannot be trusted. The agent layer only ever sees
``NormalizedHookEvent``; the CLIs' own vocabularies stay here.

The hook command imports the adapters, and it runs for every event inside the CLI's turn, so
they import only the light parts of the standard library at run time: plain classes and named
tuples here, not dataclasses (which pull in ``inspect``), and no ``pathlib`` at import.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path

    from coder_tui.core.agents.profile import AgentProfile

HookRecord = Mapping[str, Any]
"""One line of an agent's events file, as ``coder-tui hook`` wrote it: ``ts``, ``agent``,
``kind`` (the adapter's name), ``event`` (the CLI's own event name), ``payload`` and, for a
payload that could not be read, ``error``."""


class HookEventKind(StrEnum):
    """The few things a hook can tell the agent layer, whatever the CLI calls them."""

    SESSION_STARTED = "session-started"  # the CLI is up
    PROMPT_ACCEPTED = "prompt-accepted"  # it took a prompt: a turn begins
    TURN_ENDED = "turn-ended"  # the turn is over, with the reply where the CLI reports it
    TURN_INTERRUPTED = "turn-interrupted"  # over without a turn end (Esc, a denied approval)
    APPROVAL_REQUESTED = "approval-requested"  # the CLI asks permission
    TOOL_STARTING = "tool-starting"  # names the tool about to run, which approve-edits judges
    TOOL_FINISHED = "tool-finished"  # a tool ran: any approval it needed was answered
    OTHER = "other"  # nothing for the status; the event's session id and mode still count


class NormalizedHookEvent(NamedTuple):
    """One hook record in the agent layer's terms. Fields beyond ``kind`` are filled where the
    CLI reports them; ``session_id`` and ``permission_mode`` count for every kind."""

    kind: HookEventKind
    name: str = ""  # the CLI's own event name, for logs
    session_id: str | None = None  # the CLI's session (Codex picks its own: this names it)
    permission_mode: str | None = None  # the mode the CLI says it runs in
    turn_id: str = ""  # the CLI's id of the turn, where it reports one turn end twice
    # For a turn end from a channel that also reports the CLI's side conversations (Codex's
    # notify reports its title-generation turn too): the conversation the turn ran in. A turn
    # of another conversation is not the agent's; the first seen while it works names it.
    thread_id: str = ""
    prompt: str = ""  # PROMPT_ACCEPTED: the prompt as the user typed it
    reply: str | None = None  # TURN_ENDED: the exact reply; None means read it off the screen
    tool: str = ""  # TOOL_STARTING, APPROVAL_REQUESTED: the tool's name as the CLI reports it
    tool_input: object = None  # its input, from which approve-edits reads the files it edits
    detail: str = ""  # APPROVAL_REQUESTED: what is asked, for the user


class LaunchContext(NamedTuple):
    """What an adapter may use to install its hooks for one launch."""

    agent: str  # the agent's name in the run
    profile: AgentProfile
    cwd: Path  # the working folder (resolved)
    agent_dir: Path  # the agent's own folder in the run, for per-launch files
    home: Path  # the user's home folder
    hook: list[str]  # the command the CLI's hooks run (``coder-tui hook ...``)
    env: Mapping[str, str]  # the launch's environment so far (the profile's ``env``)


class HookInstall:
    """What an adapter adds to one launch: arguments, environment, the per-launch files it
    wrote, and notes for the user."""

    __slots__ = ("args", "env", "files", "notes")

    def __init__(
        self,
        *,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        files: list[Path] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.args = args or []
        self.env = env or {}
        self.files = files or []
        self.notes = notes or []

    def __repr__(self) -> str:
        return (
            f"HookInstall(args={self.args!r}, env={self.env!r}, files={self.files!r}, "
            f"notes={self.notes!r})"
        )


class CliAdapter(ABC):
    """One agent CLI's code: subclass, set ``name`` (the profile's ``hooks:`` value) and
    register an instance with ``register_adapter`` when the module is imported."""

    name: ClassVar[str]
    # What the hook command prints for each event: a CLI that parses a hook's output wants
    # something valid (Gemini CLI reads it as JSON).
    hook_stdout: ClassVar[str] = ""

    @abstractmethod
    def install(self, launch: LaunchContext) -> HookInstall:
        """Add the hooks (and any settings the CLI needs) for this launch only."""

    def asking_notes(self, launch: LaunchContext) -> list[str]:
        """Notes for a launch that got the profile's asking mode: e.g. the user's own settings
        choose a mode that the flag overrides inside coder-tui."""
        return []

    @abstractmethod
    def normalize(self, record: HookRecord) -> NormalizedHookEvent | None:
        """The record in the agent layer's terms; None for a record that is not an event."""

    def read_transcript(self, path: Path) -> str | None:
        """The model's last reply of the latest turn from the CLI's own transcript file, or
        None (no transcript, unreadable, or no text yet)."""
        return None

    # --- helpers for subclasses ---------------------------------------------------------------

    @staticmethod
    def payload(record: HookRecord) -> dict[str, Any] | None:
        """The record's payload, or None when it is not an object (nothing to read)."""
        payload = record.get("payload") or {}
        return payload if isinstance(payload, dict) else None

    @staticmethod
    def event(
        kind: HookEventKind, record: HookRecord, payload: Mapping[str, Any], **fields: Any
    ) -> NormalizedHookEvent:
        """An event of ``kind`` with the fields every payload may carry (the session id, the
        permission mode, a turn id under either spelling) read from ``payload``."""
        session = payload.get("session_id")
        mode = payload.get("permission_mode")
        fields.setdefault("turn_id", str(payload.get("turn_id") or payload.get("turn-id") or ""))
        return NormalizedHookEvent(
            kind,
            name=str(record.get("event", "")),
            session_id=str(session) if session else None,
            permission_mode=mode if isinstance(mode, str) else None,
            **fields,
        )


def first_text(payload: Mapping[str, Any], *keys: str) -> str | None:
    """The first of ``keys`` that the payload sets (not null), as text."""
    for key in keys:
        value = payload.get(key)
        if value is not None:
            return str(value)
    return None


def write_json(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Atomic replace, so a reader (the CLI, or the user) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
