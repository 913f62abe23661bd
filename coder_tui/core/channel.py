"""The channel: the one log of what the user, the agents and the operator said in a run.

Every message is one JSON line in ``channel.jsonl``. A post is written (one ``write`` with
``O_APPEND``, then ``fsync``) before subscribers hear of it and before ``post`` returns, so
whatever the UI showed or the operator acted on is on disk. ``kill -9`` at any moment leaves at
most an incomplete last line; loading ignores it and the next append truncates it away.

Exactly once across crash and resume: the operator posts with deterministic idempotency keys
(``"run:step:review:round:2:reply"``). Posting a key the channel already holds returns the
stored message and writes nothing, so replaying a step after ``coder-tui resume`` cannot
duplicate what was already said.

The file underneath is a ``coder_tui.core.storage.JsonlLog`` (as ``events.jsonl`` is).
"""

from __future__ import annotations

import bisect
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coder_tui.core.storage import JsonlLog

log = logging.getLogger(__name__)


# --- the channel ----------------------------------------------------------------------------------


class MessageKind(StrEnum):
    USER = "user"  # the user typed it
    PROMPT = "prompt"  # the operator sent it to an agent
    REPLY = "reply"  # an agent's reply, posted to the channel
    OPERATOR = "operator"  # operator status notes: step started, verdicts, limits
    SYSTEM = "system"  # errors, an agent exited, approvals


# The authors that are not agents: the user (typed it), the operator and the system (what the
# host and the operator post, see MessageKind). No agent may take one of these names, or its
# replies would pass for theirs (coder_tui/core/agents/names.py).
CHANNEL_AUTHORS = frozenset({"user", "operator", "system"})


class ChannelMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int  # 1-based and dense within a channel
    id: str  # unique: f"{seq}-{random hex}"
    key: str | None = None  # idempotency key: at most one message per key
    at: float
    author: str  # "user" | an agent's name | "operator" | "system"
    targets: list[str] = Field(default_factory=list)  # agent names the message is for
    text: str
    kind: MessageKind
    step: str | None = None
    round: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


Subscriber = Callable[[ChannelMessage], None]

_NAME_CHARS = r"[\w-]"


class Channel:
    """The run's messages, in memory and (with ``path``) in a JSON-lines file.

    ``messages`` is a snapshot list, oldest first. ``post`` is safe to call from several
    threads; subscribers run in the posting thread, after the line is on disk.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._log = JsonlLog(self.path) if self.path is not None else None
        self._lock = threading.RLock()
        self._messages: list[ChannelMessage] = []
        self._by_key: dict[str, ChannelMessage] = {}
        self._subscribers: list[Subscriber] = []
        if self._log is not None:
            self._load(self._log)

    def _load(self, jsonl: JsonlLog) -> None:
        for record in jsonl.read():
            try:
                message = ChannelMessage.model_validate(record)
            except ValidationError as exc:
                log.warning("%s: skipped a line that is not a message: %s", self.path, exc)
                continue
            self._messages.append(message)
            if message.key is not None:
                self._by_key.setdefault(message.key, message)

    # --- reading ----------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ChannelMessage]:
        with self._lock:
            return list(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._messages[-1].seq if self._messages else 0

    def find(self, key: str) -> ChannelMessage | None:
        with self._lock:
            return self._by_key.get(key)

    def since(self, seq: int) -> list[ChannelMessage]:
        """Messages with a ``seq`` greater than ``seq`` (``since(0)`` is all of them)."""
        with self._lock:
            start = bisect.bisect_right(self._messages, seq, key=lambda m: m.seq)
            return self._messages[start:]

    # --- writing ----------------------------------------------------------------------------------

    def post(
        self,
        author: str,
        text: str,
        *,
        kind: MessageKind,
        targets: Iterable[str] = (),
        step: str | None = None,
        round: int | None = None,
        key: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ChannelMessage:
        """Add a message: on disk (fsync'd) first, then in memory, then to subscribers.

        With ``key``: if a message with that key exists, it is returned unchanged and nothing
        is written or notified (even if the text differs).
        """
        with self._lock:
            if key is not None and (existing := self._by_key.get(key)) is not None:
                return existing
            seq = self._messages[-1].seq + 1 if self._messages else 1
            message = ChannelMessage(
                seq=seq,
                id=f"{seq}-{secrets.token_hex(3)}",
                key=key,
                at=time.time(),
                author=author,
                targets=list(targets),
                text=text,
                kind=kind,
                step=step,
                round=round,
                meta=dict(meta or {}),
            )
            if self._log is not None:
                self._log.append(message.model_dump(mode="json"))
            self._messages.append(message)
            if key is not None:
                self._by_key[key] = message
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(message)
            except Exception:
                log.exception("a channel subscriber failed on message %s", message.id)
        return message

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(message)`` after each new message is on disk; returns unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    # --- mentions ---------------------------------------------------------------------------------

    @staticmethod
    def mentions(text: str, known: Iterable[str]) -> list[str]:
        """Agent names @mentioned in ``text``: known names only, case-insensitive, in order of
        first mention, each once, spelled as in ``known``.

        ``@name`` counts at the start or after a character that cannot be part of an address
        (so ``a@b``, ``me@reviewer.io`` and ``@@x`` are not mentions), and only if the name
        ends there (``@claude-2`` is not ``@claude``; ``@reviewer.`` ending a sentence is).
        """
        canonical: dict[str, str] = {}
        for name in known:
            if name:
                canonical.setdefault(name.casefold(), name)
        if not canonical:
            return []
        names = sorted(canonical.values(), key=len, reverse=True)
        alternatives = "|".join(re.escape(name) for name in names)
        pattern = re.compile(
            rf"(?<![\w.+@-])@({alternatives})(?!{_NAME_CHARS})(?!\.\w)", re.IGNORECASE
        )
        found: list[str] = []
        for match in pattern.finditer(text):
            mentioned = canonical.get(match.group(1).casefold())
            if mentioned is not None and mentioned not in found:
                found.append(mentioned)
        return found
