"""``coder-tui hook``: what an agent CLI's hook runs; appends one JSON line per event.

The event comes as JSON on stdin (Claude Code, Gemini CLI, the fake agent), or as the last
argument (Codex's ``notify``). The line goes to the agent's events file (append, fsync), raw,
where the agent layer reads it through the CLI's adapter (``--kind``, one of the registered
adapters). This runs once per event inside the CLI's turn, so it imports only the standard
library and the adapters (which need no more), and never fails the CLI: a broken payload is
still recorded, raw, and so is an event whose adapter module (``--adapter-module``, for one
from outside coder-tui) cannot be imported here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from coder_tui.core.agents.adapters.registry import UnknownAdapterError, adapter_for, adapter_names


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments, after importing ``--adapter-module`` (so its adapter is a choice). An
    import that fails is kept in ``adapter_error``: the event is recorded all the same."""
    parser = argparse.ArgumentParser(prog="coder-tui hook", description=__doc__)
    parser.add_argument("--events", required=True, help="the agent's events file (JSONL)")
    parser.add_argument("--agent", required=True, help="the agent's name in the run")
    parser.add_argument(
        "--kind", required=True, help="the CLI's adapter: " + ", ".join(adapter_names())
    )
    parser.add_argument(
        "--adapter-module", help="module that registers the adapter, if not built in"
    )
    parser.add_argument("payload", nargs="?", help="the event as JSON (Codex notify)")
    args = parser.parse_args(argv)
    args.adapter_error = None
    if args.adapter_module:
        try:
            importlib.import_module(args.adapter_module)
        except Exception as exc:  # any failure of someone else's module; still record
            args.adapter_error = f"adapter module {args.adapter_module}: {exc!r}"
    if args.kind not in adapter_names() and args.adapter_error is None:
        parser.error(f"--kind: no adapter {args.kind!r} (known: {', '.join(adapter_names())})")
    return args


def read_payload(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    raw = args.payload if args.payload is not None else sys.stdin.read()
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        return {"raw": raw}, f"payload is not JSON: {exc}"
    if not isinstance(value, dict):
        return {"raw": value}, "payload is not a JSON object"
    return value, None


def event_name(payload: dict[str, Any]) -> str:
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
        "event": event_name(payload),
        "payload": payload,
    }
    if error or args.adapter_error:
        record["error"] = "; ".join(e for e in (error, args.adapter_error) if e)
    append_line(args.events, record)
    with contextlib.suppress(UnknownAdapterError):  # its module did not import here
        sys.stdout.write(adapter_for(args.kind).hook_stdout)  # Gemini parses it as JSON
    return 0


if __name__ == "__main__":
    sys.exit(main())
