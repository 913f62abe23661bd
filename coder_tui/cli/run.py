"""``coder-tui run TEMPLATE``: a workflow over agents, in the TUI or headless.

User mistakes (unknown template, missing input, unknown agent, broken file) end in one message
and exit code 2 before any agent starts.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from coder_tui import paths
from coder_tui.cli.common import (
    UsageError,
    apply_agent_options,
    fail,
    gates_mode,
    known_profiles,
    known_templates,
    launch,
    user_config,
)
from coder_tui.core.agents.names import agent_name_problem
from coder_tui.core.agents.team import AgentListError, AgentRequest, parse_agent_list

if TYPE_CHECKING:
    from coder_tui.core.agents.profile import AgentProfile
    from coder_tui.core.templates import Template
    from coder_tui.server.protocol import CreateSession, ResumeRun


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="coder-tui run",
        description="Run a workflow template. config.yaml's policies apply under --policy.",
    )
    parser.add_argument("template", help="template name (see `coder-tui templates`)")
    parser.add_argument("--task", help="the task (the template's `task` input)")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--agents", default="", metavar="LIST", help="e.g. claude,codex or rev=claude"
    )
    parser.add_argument("--policy", action="append", default=[], metavar="AGENT=MODE")
    parser.add_argument("--skip-approvals", action="append", default=[], metavar="AGENT")
    parser.add_argument("--cwd", default=None)
    parser.add_argument("--headless", action="store_true", help="no TUI: print the channel")
    parser.add_argument(
        "--detach",
        action="store_true",
        help="hand the run to the coder-tui server and return (coder-tui attach shows it)",
    )
    gates = parser.add_mutually_exclusive_group()
    gates.add_argument("--approve-gates", action="store_true", help="headless: approve gates")
    gates.add_argument("--reject-gates", action="store_true", help="headless: reject gates")
    args = parser.parse_args(argv)
    try:
        cwd = Path(args.cwd).resolve() if args.cwd else Path.cwd()
        if not cwd.is_dir():
            raise UsageError(f"--cwd {args.cwd}: no such folder")
        config = user_config()
        project = paths.project_dir(cwd)
        templates = known_templates(project)
        template = templates.get(args.template)
        if template is None:
            raise UsageError(
                f"no template named {args.template!r} (known: {', '.join(sorted(templates))})"
            )
        inputs = parse_inputs(template, args.task, args.input)
        profiles = known_profiles(project)
        requests = (
            parse_agent_list(args.agents, profiles)
            if args.agents
            else agents_for_roles(template, profiles)
        )
        requests = apply_agent_options(requests, args.policy, args.skip_approvals, config)
        from coder_tui.core.templates import assign_roles

        assign_roles(template, {r.name: r.profile for r in requests})
    except (UsageError, AgentListError) as exc:
        return fail(str(exc))
    except Exception as exc:  # TemplateError from resolve_roles: a role nobody can fill
        if type(exc).__name__ == "TemplateError":
            return fail(str(exc))
        raise
    return start_run(
        template,
        inputs,
        requests,
        profiles,
        cwd,
        headless=args.headless,
        gates=gates_mode(args),
        keymap=config.keymap,
        detach=args.detach,
    )


def parse_inputs(template: Template, task: str | None, raw: Sequence[str]) -> dict[str, str]:
    """--task and --input NAME=VALUE, resolved by the template's inputs (resolve_inputs)."""
    from coder_tui.core.templates import InputError, TemplateError, resolve_inputs

    given: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--input {item!r}: expected NAME=VALUE")
        given[name] = value
    try:
        return resolve_inputs(template, given, task)
    except InputError as exc:
        raise UsageError(exc.describe(how=_input_flag)) from None
    except TemplateError as exc:
        raise UsageError(str(exc)) from None


def _input_flag(name: str) -> str:
    """How to give input ``name`` on the command line."""
    from coder_tui.core.templates import TASK_INPUT

    return "pass --task" if name == TASK_INPUT else f"pass --input {name}=..."


def agents_for_roles(template: Template, profiles: dict[str, AgentProfile]) -> list[AgentRequest]:
    """Without --agents: one agent per role, the first installed CLI in its preference list.
    The agent takes the role's name, so that name follows the agent name rule too."""
    requests: list[AgentRequest] = []
    for role, spec in template.roles.items():
        problem = agent_name_problem(role)
        if problem is not None:
            raise UsageError(f"role {role}: {problem}; pass --agents NAME=PROFILE")
        for profile_name in [*spec.prefer, *spec.fallback]:
            profile = profiles.get(profile_name)
            if profile is not None and profile.resolve_executable() is not None:
                requests.append(AgentRequest(name=role, profile=profile_name))
                break
        else:
            wanted = ", ".join([*spec.prefer, *spec.fallback])
            raise UsageError(
                f"role {role} needs one of: {wanted}; none is installed "
                "(see `coder-tui doctor`, or pass --agents)"
            )
    return requests


def start_run(
    template: Template,
    inputs: dict[str, str],
    requests: list[AgentRequest],
    profiles: dict[str, AgentProfile],
    cwd: Path,
    *,
    headless: bool,
    gates: str = "fail",
    extra_args: dict[str, list[str]] | None = None,
    keymap: Mapping[str, str] | None = None,
    detach: bool = False,
    on_detach: Callable[[], None] | None = None,
) -> int:
    """Headless: the run's host in this process, its channel printed (no process is left
    behind). Otherwise the server runs it: shown in the TUI (with the user's ``keymap``),
    or with ``detach`` handed over at once (its agents stop when the run ends)."""
    if headless and not detach:
        from coder_tui.core.host import HostOptions, RunHost

        options = HostOptions(startup_timeout=60.0, starts_agents=True, extra_args=extra_args or {})
        host = RunHost.new(
            paths.runs_dir(),
            cwd,
            requests,
            profiles,
            template=template,
            inputs=inputs,
            options=options,
        )
        return launch(host, headless=True, gates=gates)
    from coder_tui.cli.tui import agent_specs, run_client
    from coder_tui.client.connection import connect
    from coder_tui.server.protocol import CreateSession

    create = CreateSession(
        id=0,
        cwd=str(cwd),
        agents=agent_specs(requests),
        template=template.name,
        inputs=inputs,
        env=dict(os.environ),
        extra_args=extra_args or {},
        headless=detach,
        detached=detach,
    )
    if detach:
        return hand_over(create)
    return run_client(
        create=create,
        connect=lambda: connect(client="tui"),
        keymap=keymap or {},
        on_detach=on_detach,
    )


def hand_over(request: CreateSession | ResumeRun) -> int:
    """``--detach``: the server takes the run and this command returns (the run's id and how
    to follow it are printed)."""
    import asyncio

    from coder_tui.client.connection import ServerError, connect
    from coder_tui.server.protocol import Created

    async def create() -> Created:
        connection = await connect(client="cli")
        try:
            created = await connection.request(lambda i: msgspec.structs.replace(request, id=i))
        finally:
            await connection.close()
        assert isinstance(created, Created)
        return created

    try:
        created = asyncio.run(create())
    except ServerError as exc:
        return fail(str(exc))
    print(
        f"run {created.run_id} runs in the coder-tui server as session {created.session}: "
        f"coder-tui attach {created.session} shows it, coder-tui ls where it is"
    )
    return 0
