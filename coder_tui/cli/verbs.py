"""The command-line verbs over the server's API: ``ls``, ``status``, ``send``, ``post``,
``pause``, ``step``, ``cancel``, ``approve``, ``deny`` (``resume`` lives in resume.py: it goes
on with a live paused run or relaunches a stopped one).

Each one connects (starting the server only where that makes sense: ``ls`` and ``status``
on a machine with no server say so), does one request, prints its answer made terminal-safe
(agent text may hold escape sequences), and exits 0, or 2 with the server's sentence.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import msgspec

from coder_tui.cli.common import fail
from coder_tui.core.safe_text import terminal_safe

VERBS = ("ls", "status", "send", "post", "pause", "step", "cancel", "approve", "deny")


def main_for(verb: str) -> Callable[[Sequence[str]], int]:
    return lambda argv: run_verb(verb, argv)


def run_verb(verb: str, argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"coder-tui {verb}", description=_DESCRIPTIONS[verb])
    if verb in ("ls", "status"):
        parser.add_argument("--json", action="store_true", help="the server's answer as JSON")
    elif verb == "send":
        parser.add_argument("agent", help="NAME, or SESSION:NAME when names repeat")
        parser.add_argument("text", help="the prompt")
        parser.add_argument("--wait", action="store_true", help="wait for the reply and print it")
    elif verb == "post":
        parser.add_argument("text", help="what to say (an @mention reaches that agent)")
        parser.add_argument("--session", default="", help="which session (when several run)")
    elif verb in ("pause", "step", "cancel"):
        parser.add_argument(
            "run", nargs="?", default="", help="run id or session (default: the one)"
        )
    elif verb in ("approve", "deny"):
        parser.add_argument("agent", help="NAME, or SESSION:NAME")
        if verb == "approve":
            parser.add_argument(
                "--always", action="store_true", help="the CLI's 'always allow' answer"
            )
    args = parser.parse_args(argv)
    action = _ACTIONS[verb]
    return asyncio.run(_with_server(lambda connection: action(connection, args), verb))


async def _with_server(action: Callable[[Any], Coroutine[Any, Any, int]], verb: str) -> int:
    from coder_tui.client.connection import ServerError, connect

    start = verb not in ("ls", "status", "pause", "step", "cancel", "approve", "deny")
    try:
        connection = await connect(client="cli", start=start)
    except ServerError as exc:
        if verb in ("ls", "status") and "no coder-tui server" in str(exc):
            print("no coder-tui server is running: no agents, no runs")
            return 0
        return fail(str(exc))
    try:
        return await action(connection)
    except ServerError as exc:
        return fail(str(exc))
    finally:
        await connection.close()


# --- the verbs ------------------------------------------------------------------------------------


async def _status(connection: Any, args: argparse.Namespace) -> int:
    from coder_tui.server.protocol import Status, StatusResult

    result = await connection.request(lambda i: Status(id=i))
    assert isinstance(result, StatusResult)
    if args.json:
        print(msgspec.json.encode(result).decode())
        return 0
    print(status_text(result, detailed=True))
    return 0


async def _ls(connection: Any, args: argparse.Namespace) -> int:
    from coder_tui.server.protocol import Status, StatusResult

    result = await connection.request(lambda i: Status(id=i))
    assert isinstance(result, StatusResult)
    if args.json:
        print(msgspec.json.encode(result.sessions).decode())
        return 0
    print(status_text(result, detailed=False))
    return 0


def status_text(result: Any, *, detailed: bool) -> str:
    """Sessions, their agents with status, their runs with their step: one line each."""
    if not result.sessions:
        return f"coder-tui server {result.server_pid}: no sessions"
    lines: list[str] = []
    for session in result.sessions:
        attached = f", {session.clients} attached" if session.clients else ""
        lines.append(f"session {session.session}: {session.title} ({session.cwd}{attached})")
        run = session.run
        if run is not None and (run.template or detailed):
            what = f"run {run.run_id}"
            if run.template:
                what += f" [{run.template}] {run.status}"
                if run.step:
                    what += f", step {run.step} #{run.step_round}"
                if run.waiting_at_gate:
                    what += ", waiting at a gate"
                elif run.paused:
                    what += ", paused"
                if detailed:
                    what += f", hops {run.hops}/{run.max_hops}"
                    if run.outcome:
                        what += f": {run.outcome}"
            lines.append(f"  {what}")
        for agent in session.agents:
            line = f"  {session.session}:{agent.name} ({agent.profile}) {agent.words}"
            if agent.policy != "ask":
                line += f" · {agent.policy}"
            if agent.approval and detailed:
                line += f" · asks: {agent.approval}"
            lines.append(line)
        for pane in session.panes:
            if pane.agent is None:
                state = pane.ended_why if pane.ended else "running"
                lines.append(f"  pane {pane.pane}: {pane.command_line} ({state})")
    return terminal_safe("\n".join(lines))


async def _send(connection: Any, args: argparse.Namespace) -> int:
    from coder_tui.server.protocol import Delivered, Receipt, Send

    started = time.monotonic()

    def show(receipt: Receipt) -> None:
        detail = f" ({receipt.detail})" if receipt.detail else ""
        elapsed = time.monotonic() - started
        print(terminal_safe(f"{receipt.stage}{detail} after {elapsed:.1f} s"), file=sys.stderr)

    result = await connection.request(
        lambda i: Send(id=i, agent=args.agent, text=args.text, wait=args.wait), on_receipt=show
    )
    assert isinstance(result, Delivered)
    if args.wait and result.reply is not None:
        print(terminal_safe(result.reply))
    return 0


async def _post(connection: Any, args: argparse.Namespace) -> int:
    from coder_tui.server.protocol import Say

    session = args.session or await _only_session(connection, with_agents=True)
    await connection.request(lambda i: Say(id=i, session=session, text=args.text))
    return 0


async def _only_session(connection: Any, *, with_agents: bool) -> str:
    from coder_tui.client.connection import ServerError
    from coder_tui.server.protocol import Status, StatusResult

    result = await connection.request(lambda i: Status(id=i))
    assert isinstance(result, StatusResult)
    sessions = [s for s in result.sessions if s.agents or not with_agents]
    if len(sessions) == 1:
        return str(sessions[0].session)
    if not sessions:
        raise ServerError("no session with agents is running")
    names = ", ".join(f"{s.session} ({s.title})" for s in sessions)
    raise ServerError(f"several sessions run: say which with --session ({names})")


def _run_command(command: str) -> Callable[[Any, argparse.Namespace], Coroutine[Any, Any, int]]:
    async def act(connection: Any, args: argparse.Namespace) -> int:
        from coder_tui.server.protocol import RunCommand

        await connection.request(lambda i: RunCommand(id=i, command=command, run=args.run))
        return 0

    return act


def _answer(approved: bool) -> Callable[[Any, argparse.Namespace], Coroutine[Any, Any, int]]:
    async def act(connection: Any, args: argparse.Namespace) -> int:
        from coder_tui.server.protocol import Approve

        always = bool(getattr(args, "always", False))
        await connection.request(
            lambda i: Approve(id=i, agent=args.agent, approved=approved, always=always)
        )
        return 0

    return act


_ACTIONS: dict[str, Callable[[Any, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "ls": _ls,
    "status": _status,
    "send": _send,
    "post": _post,
    "pause": _run_command("pause"),
    "step": _run_command("step"),
    "cancel": _run_command("cancel"),
    "approve": _answer(True),
    "deny": _answer(False),
}
_DESCRIPTIONS = {
    "ls": "Sessions on the server: agents with their status, runs with their step.",
    "status": "Every session, agent and run in detail (--json: the API's StatusResult).",
    "send": "Send a prompt to one agent; prints how far it got, and with --wait its reply.",
    "post": "Say something in a session's channel, as if typed there.",
    "pause": "Pause a workflow run (the agents keep working on what they have).",
    "step": "Run one step of a paused workflow run.",
    "cancel": "Cancel a workflow run.",
    "approve": "Approve what an agent asks permission for.",
    "deny": "Deny what an agent asks permission for.",
}
