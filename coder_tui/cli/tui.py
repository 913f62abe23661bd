"""``coder-tui [--agents ...] [--cmd ...]``: the main parser, and the TUI over plain commands
and a session of agents. Nothing heavy is imported before the arguments are known to be
right (``--help`` stays fast: its list of keys is made from the binding table, and the
user's keymap, only when help is printed).
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coder_tui import __version__, paths
from coder_tui.cli.common import (
    UsageError,
    apply_agent_options,
    fail,
    finished,
    known_profiles,
    user_config,
)

if TYPE_CHECKING:
    from coder_tui.core.agents.profile import AgentProfile
    from coder_tui.core.agents.team import AgentRequest
    from coder_tui.core.config import UserConfig
    from coder_tui.server.protocol import AgentSpec, CreateSession, ResumeRun


class _MainParser(argparse.ArgumentParser):
    """Its help ends with every key, as the user's keymap has them, kept as laid out."""

    def format_help(self) -> str:
        return f"{super().format_help()}\n{keys_epilog()}\n"


def keys_epilog() -> str:
    """The keys table for --help. Without a config file no YAML or pydantic is loaded; a
    broken one does not hide the help (the TUI itself refuses to start with it)."""
    from coder_tui.ui.bindings import keys_help

    if not paths.config_file().exists():
        return keys_help({})
    try:
        return keys_help(user_config().keymap)
    except UsageError:
        return (
            f"{keys_help({})}\n(the default keys: {paths.config_file()} is broken, "
            "see `coder-tui config`)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _MainParser(
        prog="coder-tui",
        description=(
            "Run coding-agent CLIs (or any commands) side by side in terminal panes. "
            "Without --agents or --cmd: config.yaml's default_agents, else your shell. "
            "The agents run in a per-user server: detach (D) and `coder-tui attach` again. "
            "Other commands: demo (a Review-Fix run with fake agents), run TEMPLATE "
            "(a workflow), resume RUN, runs [--stats], replay RUN, templates, config "
            "(where config.yaml is, and every setting in effect), doctor (which agent CLIs "
            "are ready); over the server: ls, status, attach, send, post, pause, step, "
            "cancel, approve, deny, server; hook and proxy (called by agent CLIs and ssh)."
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
        help="approval policy of an agent: ask (default), approve-edits or approve-all "
        "(over config.yaml's policies)",
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
    try:
        config = user_config()
        agents, _profiles = _agent_requests(args, config, commands)
    except UsageError as exc:
        return fail(str(exc))
    if not commands and not agents:
        from coder_tui.core.session import default_shell

        commands = [default_shell()]
    from coder_tui.server.protocol import CreateSession

    create = CreateSession(
        id=0,
        cwd=str(cwd),
        agents=agent_specs(agents),
        commands=commands,
        env=dict(os.environ),
    )
    from coder_tui.client.connection import connect

    return run_client(create=create, connect=lambda: connect(client="tui"), keymap=config.keymap)


def agent_specs(requests: Sequence[AgentRequest]) -> list[AgentSpec]:
    from coder_tui.server.protocol import AgentSpec

    return [
        AgentSpec(
            name=r.name, profile=r.profile, policy=str(r.policy), skip_approval=r.skip_approval
        )
        for r in requests
    ]


def run_client(
    *,
    connect: Callable[[], Awaitable[object]],
    keymap: Mapping[str, str],
    create: CreateSession | None = None,
    attach: str | None = None,
    resume: ResumeRun | None = None,
    where: str = "",
    on_detach: Callable[[], None] | None = None,
) -> int:
    """The TUI as a client of the server: show the session (new, resumed or running), and
    after it closes say what goes on. The exit code: 0, or how the session's run ended when
    it ended (1: it failed or was cancelled; a run left mid-way says how to resume it)."""
    from coder_tui.ui import prepare_textual_environment

    prepare_textual_environment()
    from coder_tui.ui.app import CoderTuiApp, Target

    try:
        notifications = user_config().notifications
    except UsageError:
        notifications = None  # the TUI's own commands already reported a broken file
    ring_for = notifications.events if notifications and notifications.bell else []
    app = CoderTuiApp(
        target=Target(create=create, attach=attach, resume=resume),
        connect=connect,  # type: ignore[arg-type]
        keymap=keymap,
        cwd=create.cwd if create else None,
        ring_for=ring_for,
    )
    app.run()
    if app.return_code:
        return app.return_code
    if app.detached:
        if on_detach is not None:
            on_detach()
        again = f"coder-tui attach {app.session_id}" + (f" --ssh {where}" if where else "")
        print(f"detached: session {app.session_id} keeps running in the coder-tui server ({again})")
        return 0
    if not app.run_id or where:
        return 0
    from coder_tui.core.runs import RunStore

    try:
        store = RunStore.open(app.run_id, paths.runs_dir())
    except (FileNotFoundError, ValueError, LookupError):
        return 0
    return finished(store.state)


def _agent_requests(
    args: argparse.Namespace, config: UserConfig, commands: list[list[str]]
) -> tuple[list[AgentRequest], dict[str, AgentProfile]]:
    """The session's agents: --agents, else (when --cmd gives no commands either)
    config.yaml's default_agents; none is a session of plain commands."""
    agent_list = args.agents
    origin = "--agents"
    if not agent_list and not commands and config.default_agents:
        agent_list = config.default_agents
        origin = f"{paths.config_file()}: default_agents"
    if not agent_list:
        return [], {}
    from coder_tui.core.agents.team import parse_agent_list

    profiles = known_profiles()
    try:
        requests = parse_agent_list(agent_list, profiles)
    except ValueError as exc:  # AgentListError: says which profiles exist
        message = str(exc) if origin == "--agents" else f"{origin}: {exc}"
        raise UsageError(message) from None
    return apply_agent_options(requests, args.policy, args.skip_approvals, config), profiles
