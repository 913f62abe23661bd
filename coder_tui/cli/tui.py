"""``coder-tui [--agents ...] [--cmd ...]``: the main parser, and the TUI over plain commands
and a session of agents. Nothing heavy is imported before the arguments are known to be
right (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coder_tui import __version__
from coder_tui.cli.common import UsageError, fail

if TYPE_CHECKING:
    from coder_tui.core.agents.profile import AgentProfile
    from coder_tui.core.agents.team import AgentRequest


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coder-tui",
        description=(
            "Run coding-agent CLIs (or any commands) side by side in terminal panes. "
            "Other commands: demo (a Review-Fix run with fake agents), run TEMPLATE "
            "(a workflow), resume RUN, runs [--stats], replay RUN, templates, doctor "
            "(which agent CLIs are ready), hook (called by agent CLIs)."
        ),
        epilog=(
            "Keys: ctrl+] leaves the focused pane; then arrows/tab select, enter enters, "
            "m maximises, 1-9 jump to a pane, a/d approve/deny an agent's request, "
            "o cycles its approval policy, r restarts it, t picks a template, p pauses a run, "
            "q quits. ctrl+q quits from anywhere."
        ),
    )
    parser.add_argument(
        "--agents",
        default="",
        metavar="LIST",
        help="agents to start, by profile: 'claude,codex,gemini' or 'reviewer=claude,fixer=codex'",
    )
    parser.add_argument(
        "--cmd",
        action="append",
        default=[],
        metavar="COMMAND",
        help="a plain command to run in its own pane (repeatable), split like a shell would",
    )
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="AGENT=MODE",
        help="approval policy of an agent: ask (default), approve-edits or approve-all",
    )
    parser.add_argument(
        "--skip-approvals",
        action="append",
        default=[],
        metavar="AGENT",
        help="start AGENT with its CLI's own skip-permission flag (explicit opt-in)",
    )
    parser.add_argument("--cwd", default=None, help="working folder of the agents and commands")
    parser.add_argument("--version", action="version", version=f"coder-tui {__version__}")
    return parser


def parse_commands(raw: Sequence[str]) -> list[list[str]]:
    """Shell-split each --cmd; a blank or unbalanced one is a usage error."""
    commands: list[list[str]] = []
    for text in raw:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise SystemExit(fail(f"--cmd {text!r}: {exc}")) from None
        if not argv:
            raise SystemExit(fail("--cmd needs a command, got an empty string"))
        commands.append(argv)
    return commands


def main(argv: Sequence[str]) -> int:
    """Open the TUI; the exit code says how its session (or run) ended."""
    args = build_parser().parse_args(argv)
    commands = parse_commands(args.cmd)
    cwd = Path(args.cwd).resolve() if args.cwd else Path.cwd()
    if not cwd.is_dir():
        return fail(f"--cwd {args.cwd}: no such folder")
    agents: list[AgentRequest] = []
    profiles: dict[str, AgentProfile] = {}
    if args.agents:
        try:
            agents, profiles = _agent_requests(args)
        except UsageError as exc:
            return fail(str(exc))
    if not commands and not agents:
        from coder_tui.core.session import default_shell

        commands = [default_shell()]
    from coder_tui.ui import prepare_textual_environment

    prepare_textual_environment()
    from coder_tui.ui.app import CoderTuiApp

    host = None
    if agents:
        from coder_tui import paths
        from coder_tui.core.host import HostOptions, RunHost

        options = HostOptions.for_tui()
        host = RunHost.new(paths.runs_dir(), cwd, agents, profiles, options=options)
    app = CoderTuiApp(commands, host=host, cwd=cwd)
    try:
        app.run()
    finally:
        app.kill_sessions_now()
    if host is None:
        return app.return_code or 0
    from coder_tui.cli.common import finished

    outcome = finished(host.store.state)
    return app.return_code or outcome


def _agent_requests(
    args: argparse.Namespace,
) -> tuple[list[AgentRequest], dict[str, AgentProfile]]:
    from coder_tui.cli.common import apply_agent_options, known_profiles
    from coder_tui.core.agents.team import parse_agent_list

    profiles = known_profiles()
    try:
        requests = parse_agent_list(args.agents, profiles)
    except ValueError as exc:  # AgentListError: says which profiles exist
        raise UsageError(str(exc)) from None
    return apply_agent_options(requests, args.policy, args.skip_approvals), profiles
