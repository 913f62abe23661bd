"""Command line of coder-tui.

``coder-tui [--agents ...] [--cmd ...]`` opens the TUI; ``coder-tui doctor`` checks the agent
CLIs; ``coder-tui hook`` is what agent CLIs call at each event. Errors a user can cause end in
one clear message and exit code 2, before anything starts.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coder_tui import __version__

if TYPE_CHECKING:
    from coder_tui.core.agents.profile import AgentProfile
    from coder_tui.core.agents.team import AgentRequest

SUBCOMMANDS = {"doctor", "hook", "run", "resume", "runs", "replay", "templates", "demo"}


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
            raise SystemExit(_usage_error(f"--cmd {text!r}: {exc}")) from None
        if not argv:
            raise SystemExit(_usage_error("--cmd needs a command, got an empty string"))
        commands.append(argv)
    return commands


def _usage_error(message: str) -> int:
    print(f"coder-tui: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in SUBCOMMANDS:
        return _subcommand(args_list[0], args_list[1:])
    args = build_parser().parse_args(args_list)
    commands = parse_commands(args.cmd)
    cwd = Path(args.cwd).resolve() if args.cwd else Path.cwd()
    if not cwd.is_dir():
        return _usage_error(f"--cwd {args.cwd}: no such folder")
    agents: list[AgentRequest] = []
    profiles: dict[str, AgentProfile] = {}
    if args.agents:
        try:
            agents, profiles = _agent_requests(args)
        except ValueError as exc:
            return _usage_error(str(exc))
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
    from coder_tui.commands import finished

    outcome = finished(host.store.state)
    return app.return_code or outcome


def _agent_requests(
    args: argparse.Namespace,
) -> tuple[list[AgentRequest], dict[str, AgentProfile]]:
    from coder_tui.commands import UsageError, apply_agent_options
    from coder_tui.core.agents.profile import load_profiles
    from coder_tui.core.agents.team import parse_agent_list
    from coder_tui.core.yamlfile import ConfigError

    try:
        profiles = load_profiles()
    except ConfigError as exc:
        raise ValueError(f"broken agent profile:\n{exc}") from None
    requests = parse_agent_list(args.agents, profiles)
    try:
        requests = apply_agent_options(requests, args.policy, args.skip_approvals)
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    return requests, profiles


def _subcommand(name: str, argv: list[str]) -> int:
    if name == "doctor":
        from coder_tui.doctor import main as doctor_main

        return doctor_main(argv)
    if name == "hook":
        from coder_tui.hook import main as hook_main

        return hook_main(argv)
    from coder_tui import commands

    handlers = {
        "run": commands.run_main,
        "resume": commands.resume_main,
        "runs": commands.runs_main,
        "replay": commands.replay_main,
        "templates": commands.templates_main,
        "demo": commands.demo_main,
    }
    return handlers[name](argv)


if __name__ == "__main__":
    sys.exit(main())
