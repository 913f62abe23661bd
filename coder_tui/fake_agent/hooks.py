"""The fake agent's outside world: the hook command and the transcript file.

A hook is one run of the ``--hook-command`` with one JSON object on stdin (no trailing
newline), like Claude Code's command hooks. The agent waits for it, at most
``HOOK_TIMEOUT`` seconds; failures (cannot start, non-zero exit, timeout) are logged and
otherwise ignored. The transcript is a JSONL file, one ``{"role", "text"}`` line per user
prompt and per finished reply, whose path every hook payload carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("coder_tui.fake_agent")

HOOK_TIMEOUT = 5.0
STATE_DIR_ENV = "FAKE_AGENT_STATE_DIR"


def state_dir() -> Path:
    """Where transcripts live: $FAKE_AGENT_STATE_DIR, else a per-user temp folder."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"coder-tui-fake-agent-{os.getuid()}"


class Transcript:
    """The session's JSONL transcript (appended line by line, flushed at once)."""

    def __init__(self, session_id: str, folder: Path | None = None) -> None:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", session_id) or "session"
        self.path = (folder or state_dir()) / "sessions" / f"{safe}.jsonl"

    def load(self) -> list[tuple[str, str]]:
        """Earlier entries (for --resume); unreadable lines are skipped."""
        entries: list[tuple[str, str]] = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return entries
        for line in lines:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict) and isinstance(value.get("text"), str):
                entries.append((str(value.get("role", "")), value["text"]))
        return entries

    def append(self, role: str, text: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps({"role": role, "text": text}, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.warning("cannot write transcript %s: %s", self.path, exc)


class HookRunner:
    """Runs the hook command once per event, one at a time."""

    def __init__(self, argv: list[str], *, timeout: float = HOOK_TIMEOUT) -> None:
        self.argv = argv
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._running: asyncio.subprocess.Process | None = None

    async def run(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            await self._run(payload)

    async def _run(self, payload: dict[str, Any]) -> None:
        event = payload.get("hook_event_name", "?")
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own group: a timeout kills all it started
            )
        except OSError as exc:
            log.warning("hook %s: cannot run %s: %s", event, self.argv, exc)
            return
        self._running = proc
        try:
            out, err = await asyncio.wait_for(proc.communicate(data), self.timeout)
        except TimeoutError:
            log.warning("hook %s: no exit within %.1fs, killed", event, self.timeout)
            self.kill()
            await proc.wait()
            return
        except asyncio.CancelledError:
            self.kill()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(proc.wait(), 1.0)
            raise
        finally:
            self._running = None
        if proc.returncode != 0:
            log.warning(
                "hook %s: exit code %s: %s",
                event,
                proc.returncode,
                err.decode(errors="replace").strip(),
            )
        else:
            log.debug("hook %s done: %s", event, out.decode(errors="replace").strip())

    def kill(self) -> None:
        """Kill a running hook and its children (on timeout or when the agent exits)."""
        proc = self._running
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
