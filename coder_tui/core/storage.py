"""Files that survive ``kill -9`` at any moment: append-only JSON lines (the channel, a run's
events) and the durability helpers the run store's atomic writes use."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

log = logging.getLogger(__name__)


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
