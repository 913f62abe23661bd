"""``coder-tui hook``: what an agent CLI's hook runs; appends one JSON line per event.

Claude Code, Gemini CLI and the fake agent pass the event as JSON on stdin; Codex's ``notify``
passes it as the last argument. The line goes to the agent's events file (append, fsync), where
the agent layer picks it up. This runs once per event inside the CLI's turn, so it imports only
the standard library and never fails the CLI: a broken payload is still recorded, raw.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="coder-tui hook", description=__doc__)
    parser.add_argument("--events", required=True, help="the agent's events file (JSONL)")
    parser.add_argument("--agent", required=True, help="the agent's name in the run")
    parser.add_argument("--kind", required=True, choices=["claude", "codex", "gemini", "fake"])
    parser.add_argument("payload", nargs="?", help="the event as JSON (Codex notify)")
    return parser.parse_args(argv)


def read_payload(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    raw = args.payload if args.payload is not None else sys.stdin.read()
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        return {"raw": raw}, f"payload is not JSON: {exc}"
    if not isinstance(value, dict):
        return {"raw": value}, "payload is not a JSON object"
    return value, None


def event_name(kind: str, payload: dict[str, Any]) -> str:
    """The event's name in the CLI's own vocabulary (Stop, AfterAgent, agent-turn-complete)."""
    name = payload.get("hook_event_name") or payload.get("type") or "unknown"
    return str(name)


def append_line(path: str, record: dict[str, Any]) -> None:
    """One write of one line with O_APPEND, then fsync: concurrent hooks never interleave and a
    crash right after never loses the event."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        # argparse exits 2 on bad arguments, and exit code 2 means "block" to Claude Code and
        # Codex (the user's prompt or tool call would be refused): report a plain failure.
        return 0 if exc.code in (0, None) else 1
    payload, error = read_payload(args)
    record: dict[str, Any] = {
        "ts": time.time(),
        "agent": args.agent,
        "kind": args.kind,
        "event": event_name(args.kind, payload),
        "payload": payload,
    }
    if error:
        record["error"] = error
    append_line(args.events, record)
    if args.kind == "gemini":
        sys.stdout.write("{}")  # Gemini parses a hook's stdout as JSON
    return 0


if __name__ == "__main__":
    sys.exit(main())
