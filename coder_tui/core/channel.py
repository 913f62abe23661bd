"""The channel: the one log of what the user, the agents and the operator said in a run.

Every message is one JSON line in ``channel.jsonl``. A post is written (one ``write`` with
``O_APPEND``, then ``fsync``) before subscribers hear of it and before ``post`` returns, so
whatever the UI showed or the operator acted on is on disk. ``kill -9`` at any moment leaves at
most an incomplete last line; loading ignores it and the next append truncates it away.

Exactly once across crash and resume: the operator posts with deterministic idempotency keys
(``"run:step:review:round:2:reply"``). Posting a key the channel already holds returns the
stored message and writes nothing, so replaying a step after ``coder-tui resume`` cannot
duplicate what was already said.

``JsonlLog`` (the append-only, crash-tolerant JSON-lines file under the channel) is also what
``coder_tui.core.runs`` uses for ``events.jsonl``.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)


# --- crash-tolerant JSON lines --------------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    """Make a file's creation, rename or removal in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not supported here (e.g. some platforms cannot open directories)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a regular file may take it in parts)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps_line(record: dict[str, Any]) -> bytes:
    """One record as one line: compact JSON (newlines inside strings are escaped) + ``\\n``."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return (text + "\n").encode("utf-8")


def parse_jsonl(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """The records in ``data`` with their line numbers, and the length of its valid prefix.

    The valid prefix ends after the last complete line that is a JSON object. What follows it
    (a line torn by a crash, or garbage such as the zeros a power loss can leave) is the *tail*:
    ignored here, truncated by the next append. A bad line *before* a good one is not a crash
    artefact; it is skipped with a warning and kept on disk.
    """
    records: list[tuple[int, dict[str, Any]]] = []
    good_end = 0
    bad: list[int] = []
    bad_since_good = False
    pos = 0
    number = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        if newline < 0:
            break  # an incomplete last line: the tail
        number += 1
        line = data[pos:newline]
        pos = newline + 1
        if not line.strip():
            if not bad_since_good:
                good_end = pos
            continue
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            value = None
        if not isinstance(value, dict):
            bad.append(number)
            bad_since_good = True
            continue
        records.append((number, value))
        good_end = pos
        bad_since_good = False
    middle = [n for n in bad if records and n < records[-1][0]]
    if middle:
        log.warning("skipped %d unreadable line(s): %s", len(middle), middle[:10])
    return records, good_end


class JsonlLog:
    """An append-only JSON-lines file that survives ``kill -9`` at any moment.

    ``append`` writes one line with one ``O_APPEND`` write and ``fsync``s it before returning.
    Whenever the file is not as this object left it (its first append, after a failed append,
    or when another writer appended in between) it first truncates a torn tail left by a
    crash, so the file never holds a merged or half line. ``read`` never modifies the file: a
    reader (``coder-tui runs``) may look at the log of a run that is being written right now.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._size: int | None = None  # the file's size after our last complete append

    def read(self) -> list[dict[str, Any]]:
        """The records on disk, without a torn or unreadable tail."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records, _ = parse_jsonl(data)
        return [record for _, record in records]

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line and make it durable."""
        self.append_built(lambda _records: record)

    def append_built(
        self, build: Callable[[list[dict[str, Any]] | None], dict[str, Any]]
    ) -> dict[str, Any]:
        """Append the record ``build`` returns, and return it. ``build`` gets the records on
        disk when the file changed since this object's last append (the first time, too), else
        None: a writer numbering its records can resynchronise without reading every time."""
        with self._lock:
            created = not self.path.exists()
            if created:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                records: list[dict[str, Any]] | None = None
                if size != self._size:
                    records, size = self._repair(fd, size)
                self._size = None  # unknown until the line is fully written
                line = dumps_line(record := build(records))
                write_all(fd, line)
                os.fsync(fd)
                self._size = size + len(line)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.path.parent)
            return record

    def _repair(self, fd: int, size: int) -> tuple[list[dict[str, Any]], int]:
        """The records on disk and the file's size once a torn tail is cut off."""
        data = os.pread(fd, size, 0)
        records, good_end = parse_jsonl(data)
        if good_end < len(data):
            log.warning(
                "%s: dropping %d byte(s) of torn tail left by a crash",
                self.path,
                len(data) - good_end,
            )
            os.ftruncate(fd, good_end)
            os.fsync(fd)
        return [record for _, record in records], good_end


# --- the channel ----------------------------------------------------------------------------------


class MessageKind(StrEnum):
    USER = "user"  # the user typed it
    PROMPT = "prompt"  # the operator sent it to an agent
    REPLY = "reply"  # an agent's reply, posted to the channel
    OPERATOR = "operator"  # operator status notes: step started, verdicts, limits
    SYSTEM = "system"  # errors, an agent exited, approvals


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
