"""``coder-tui run TEMPLATE``: a workflow over agents, in the TUI or headless.

User mistakes (unknown template, missing input, unknown agent, broken file) end in one message
and exit code 2 before any agent starts.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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
) -> int:
    """Create the run's host (its folder and run.json) and show it headless or in the TUI
    (with the user's ``keymap``)."""
    from coder_tui.core.host import HostOptions, RunHost

    options = HostOptions(
        startup_timeout=60.0 if headless else None,
        starts_agents=headless,
        extra_args=extra_args or {},
    )
    host = RunHost.new(
        paths.runs_dir(), cwd, requests, profiles, template=template, inputs=inputs, options=options
    )
    return launch(host, headless=headless, gates=gates, keymap=keymap)
