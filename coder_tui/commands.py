"""The workflow subcommands: run, resume, runs, replay, templates, demo.

User mistakes (unknown template, missing input, unknown agent, broken file) end in one message
and exit code 2 before any agent starts.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from coder_tui import paths
from coder_tui.core.agents.events import ApprovalPolicy
from coder_tui.core.agents.profile import AgentProfile, load_profiles
from coder_tui.core.agents.team import AgentListError, AgentRequest, parse_agent_list
from coder_tui.core.yamlfile import ConfigError

if TYPE_CHECKING:
    from coder_tui.core.templates import Template


class UsageError(Exception):
    """A mistake in what the user asked; exit code 2."""


def fail(message: str) -> int:
    print(f"coder-tui: error: {message}", file=sys.stderr)
    return 2


def _templates(project: Path | None = None):  # type: ignore[no-untyped-def]
    from coder_tui.core.templates import load_templates

    try:
        return load_templates(project)
    except ConfigError as exc:
        raise UsageError(f"broken template file:\n{exc}") from None


def _profiles(project: Path | None = None) -> dict[str, AgentProfile]:
    try:
        return load_profiles(project)
    except ConfigError as exc:
        raise UsageError(f"broken agent profile:\n{exc}") from None


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


def default_agents(template, profiles: dict[str, AgentProfile]) -> list[AgentRequest]:  # type: ignore[no-untyped-def]
    """Without --agents: one agent per role, the first installed CLI in its preference list."""
    requests: list[AgentRequest] = []
    for role, spec in template.roles.items():
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


def apply_agent_options(
    requests: list[AgentRequest], policies: Sequence[str], skips: Sequence[str]
) -> list[AgentRequest]:
    names = {r.name for r in requests}
    chosen: dict[str, ApprovalPolicy] = {}
    for item in policies:
        name, _, mode = item.partition("=")
        targets = names if name == "all" else {name}
        if not targets <= names:
            raise UsageError(f"--policy {item}: no agent named {name!r}")
        try:
            for target in targets:
                chosen[target] = ApprovalPolicy(mode)
        except ValueError:
            modes = ", ".join(p.value for p in ApprovalPolicy)
            raise UsageError(f"--policy {item}: mode must be one of {modes}") from None
    for name in skips:
        if name not in names:
            raise UsageError(f"--skip-approvals {name}: no agent named {name!r}")
    return [
        replace(r, policy=chosen.get(r.name, r.policy), skip_approval=r.name in skips)
        for r in requests
    ]


# --- run ---------------------------------------------------------------------------------------


def run_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui run", description="Run a workflow template.")
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
        project = paths.project_dir(cwd)
        templates = _templates(project)
        template = templates.get(args.template)
        if template is None:
            raise UsageError(
                f"no template named {args.template!r} (known: {', '.join(sorted(templates))})"
            )
        inputs = parse_inputs(template, args.task, args.input)
        profiles = _profiles(project)
        requests = (
            parse_agent_list(args.agents, profiles)
            if args.agents
            else default_agents(template, profiles)
        )
        requests = apply_agent_options(requests, args.policy, args.skip_approvals)
        from coder_tui.core.templates import assign_roles

        assign_roles(template, {r.name: r.profile for r in requests})
    except (UsageError, AgentListError) as exc:
        return fail(str(exc))
    except Exception as exc:  # TemplateError from resolve_roles: a role nobody can fill
        if type(exc).__name__ == "TemplateError":
            return fail(str(exc))
        raise
    gates_mode = "approve" if args.approve_gates else "reject" if args.reject_gates else "fail"
    return start_run(
        template, inputs, requests, profiles, cwd, headless=args.headless, gates=gates_mode
    )


def start_run(  # type: ignore[no-untyped-def]
    template,
    inputs: dict[str, str],
    requests: list[AgentRequest],
    profiles: dict[str, AgentProfile],
    cwd: Path,
    *,
    headless: bool,
    gates: str = "fail",
    extra_args: dict[str, list[str]] | None = None,
) -> int:
    from coder_tui.core.host import HostOptions, RunHost

    options = HostOptions(
        startup_timeout=60.0 if headless else None,
        starts_agents=headless,
        extra_args=extra_args or {},
    )
    host = RunHost.new(
        paths.runs_dir(), cwd, requests, profiles, template=template, inputs=inputs, options=options
    )
    return launch(host, headless=headless, gates=gates)


def launch(host, *, headless: bool, gates: str = "fail", resume: bool = False) -> int:  # type: ignore[no-untyped-def]
    """Show the host's session headless or in the TUI; the exit code says how its run ended
    (0: succeeded, or a session without a template closed normally)."""
    if headless:
        from coder_tui.headless import HeadlessOptions, run_headless

        console = Console(highlight=False)
        console.print(f"run {host.state.run_id} in {host.store.run_dir}")
        return asyncio.run(
            run_headless(host, console=console, options=HeadlessOptions(gates), resume=resume)
        )
    from coder_tui.ui import prepare_textual_environment

    prepare_textual_environment()
    from coder_tui.ui.app import CoderTuiApp

    app = CoderTuiApp(host=host, cwd=Path(host.state.cwd))
    try:
        app.run()
    finally:
        app.kill_sessions_now()
    outcome = finished(host.store.state)
    return app.return_code or outcome


def finished(state) -> int:  # type: ignore[no-untyped-def]
    """After the TUI closed: say how to go on with a run left mid-way; the exit code."""
    from coder_tui.core.runs import ACTIVE, RunStatus

    if state.status in ACTIVE:
        run_id = state.run_id
        what = "run" if state.template else "session"
        print(f"{what} {run_id} is not finished; go on with: coder-tui resume {run_id}")
        return 0 if not state.template else 1
    return 0 if state.status is RunStatus.SUCCEEDED or not state.template else 1


# --- resume, runs, replay, templates -------------------------------------------------------


def resume_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui resume", description="Resume a run.")
    parser.add_argument("run", help="run id (or a unique prefix), or its folder")
    parser.add_argument("--headless", action="store_true")
    gates = parser.add_mutually_exclusive_group()
    gates.add_argument("--approve-gates", action="store_true")
    gates.add_argument("--reject-gates", action="store_true")
    args = parser.parse_args(argv)
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.core.runs import RunStatus, RunStore, released

    try:
        store = RunStore.open(args.run, paths.runs_dir())
    except (FileNotFoundError, ValueError, LookupError) as exc:
        return fail(str(exc))
    state = store.state
    live = store.status  # CRASHED when the process that owned it is gone
    if live in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
        return fail(f"run {state.run_id} already ended ({live}); nothing to resume")
    if live in (RunStatus.RUNNING, RunStatus.PAUSED) and not released(state):
        return fail(f"run {state.run_id} is still {live} in process {state.pid}")
    template = None
    try:
        project = paths.project_dir(Path(state.cwd))
        if state.template:
            template = _templates(project).get(state.template)
            if template is None:
                raise UsageError(f"the run's template {state.template!r} no longer exists")
        elif args.headless:
            raise UsageError(
                f"{state.run_id} is a session of agents without a template: resume it in the "
                "TUI (without --headless)"
            )
        profiles = _profiles(project)
    except UsageError as exc:
        return fail(str(exc))
    options = HostOptions(
        startup_timeout=60.0 if args.headless else None, starts_agents=args.headless
    )
    host = RunHost.resumed(store, profiles, template, options=options)
    gates_mode = "approve" if args.approve_gates else "reject" if args.reject_gates else "fail"
    return launch(host, headless=args.headless, gates=gates_mode, resume=True)


def runs_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui runs", description="List past runs.")
    parser.add_argument("--stats", action="store_true", help="aggregate figures over all runs")
    args = parser.parse_args(argv)
    from coder_tui.core.runs import list_runs, run_stats

    console = Console(highlight=False)
    if args.stats:
        stats = run_stats(paths.runs_dir())
        table = Table(title="runs: statistics")
        table.add_column("figure")
        table.add_column("value")
        for key, value in stats.items():
            table.add_row(str(key), str(value))
        console.print(table)
        return 0
    runs = list_runs(paths.runs_dir())
    if not runs:
        console.print(f"no runs yet in {paths.runs_dir()}")
        return 0
    table = Table(title=f"runs in {paths.runs_dir()}")
    # The id is what resume and replay take: never cut or wrapped, however narrow the output.
    table.add_column("id", no_wrap=True, min_width=max(len(run.id) for run in runs))
    table.add_column("template", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("started", "duration", "outcome"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.id,
            run.template or "(agents only)",
            str(run.status),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)),
            f"{run.duration:.0f} s" if run.duration is not None else "",
            run.outcome or "",
        )
    console.print(table)
    return 0


def replay_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui replay", description="Re-show a run.")
    parser.add_argument("run")
    parser.add_argument(
        "--speed", type=float, default=0.0, help="replay at N x real time (0: all at once)"
    )
    args = parser.parse_args(argv)
    from coder_tui.core.runs import RunStore
    from coder_tui.headless import ChannelPrinter, print_summary

    try:
        store = RunStore.open(args.run, paths.runs_dir())
    except (FileNotFoundError, ValueError, LookupError) as exc:
        return fail(str(exc))
    console = Console(highlight=False)
    printer = ChannelPrinter(console)
    console.rule(f"replay of {store.state.run_id}: {store.state.template}")
    previous: float | None = None
    for message in store.channel.messages:
        if args.speed > 0 and previous is not None:
            time.sleep(max(0.0, min(5.0, (message.at - previous) / args.speed)))
        previous = message.at
        printer(message)
    console.rule("timeline")
    start = store.state.started
    for event in store.events():
        detail = ", ".join(f"{k}={v}" for k, v in event.items() if k not in {"seq", "at", "kind"})
        console.print(f"+{event['at'] - start:7.1f} s  {event['kind']}  [dim]{detail[:120]}[/]")
    print_summary(console, store)
    return 0


def templates_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui templates", description="List templates.")
    parser.parse_args(argv)
    try:
        templates = _templates(paths.project_dir())
    except UsageError as exc:
        return fail(str(exc))
    table = Table(title="workflow templates")
    for column in ("name", "category", "title", "roles (preferred CLIs)", "from"):
        table.add_column(column)
    for template in sorted(templates.values(), key=lambda t: (t.category, t.name)):
        roles = "; ".join(f"{r}: {'/'.join(s.prefer)}" for r, s in template.roles.items())
        table.add_row(
            template.name, template.category, template.title, roles, str(template.source or "")
        )
    Console().print(table)
    return 0


# --- demo ----------------------------------------------------------------------------------------

DEMO_CALC = """\
def divide(a, b):
    return a / b


def average(values):
    return sum(values) / len(values)
"""
DEMO_TEST = """\
import pytest

from calc import average, divide


def test_divide():
    assert divide(6, 3) == 2


def test_divide_by_zero_is_a_clear_error():
    with pytest.raises(ValueError):
        divide(1, 0)


def test_average_of_nothing():
    with pytest.raises(ValueError):
        average([])
"""
DEMO_FIXED = """\
def divide(a, b):
    if b == 0:
        raise ValueError("cannot divide by zero")
    return a / b


def average(values):
    if not values:
        raise ValueError("cannot average an empty list")
    return sum(values) / len(values)
"""
DEMO_REVIEWER = """\
rules:
  - times: 1
    delay: 3.0
    chunk_delay: 0.02
    reply: |
      I read calc.py and test_calc.py.
      1. divide(a, 0) raises ZeroDivisionError; the tests expect a ValueError with a clear message.
      2. average([]) divides by zero as well; it should raise ValueError too.
      VERDICT: CHANGES_REQUESTED
  - delay: 2.5
    chunk_delay: 0.02
    reply: |
      Both functions now raise ValueError with a clear message, and the tests cover them.
      VERDICT: APPROVE
"""
DEMO_FIXER = f"""\
rules:
  - delay: 3.0
    chunk_delay: 0.02
    write:
      path: calc.py
      content: |
{chr(10).join("        " + line for line in DEMO_FIXED.splitlines())}
    reply: |
      Fixed calc.py: divide() and average() now raise ValueError with a clear message.
      FILES: calc.py
"""
DEMO_CHECKER = """\
rules:
  - delay: 2.5
    chunk_delay: 0.02
    reply: |
      Ran `python -m pytest test_calc.py`: 3 passed.
      Read the diff once more: both guards raise ValueError with a message; nothing else changed.
      Problems found: none
      CHECK: PASS
"""


def demo_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="coder-tui demo",
        description="A Review-Fix run with three scripted fake agents on a sample project "
        "(no API keys, nothing installed).",
    )
    parser.add_argument("--headless", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the sample project folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="coder-tui-demo-"))
    try:
        return _demo(work, headless=args.headless)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _demo(work: Path, *, headless: bool) -> int:
    try:
        template, inputs, requests, profiles, project = prepare_demo(work)
    except UsageError as exc:
        return fail(str(exc))
    return start_run(template, inputs, requests, profiles, project, headless=headless)


def prepare_demo(work: Path):  # type: ignore[no-untyped-def]
    """The demo's sample project, scripted agent profiles and Review-Fix run request."""
    from coder_tui.core.templates import resolve_inputs

    project = work / "sample"
    project.mkdir()
    (project / "calc.py").write_text(DEMO_CALC)
    (project / "test_calc.py").write_text(DEMO_TEST)
    agents_dir = project / ".coder-tui" / "agents"
    agents_dir.mkdir(parents=True)
    base = load_profiles()["fake"]
    for role, script in (
        ("reviewer", DEMO_REVIEWER),
        ("fixer", DEMO_FIXER),
        ("checker", DEMO_CHECKER),
    ):
        script_file = work / f"{role}.yaml"
        script_file.write_text(script)
        profile = base.model_copy(
            update={
                "name": f"demo-{role}",
                "title": f"Demo {role}",
                "args": [*base.args, "--script", str(script_file)],
            }
        )
        (agents_dir / f"demo-{role}.yaml").write_text(profile.model_dump_json(indent=2))
    templates = _templates(paths.project_dir(project))
    profiles = _profiles(paths.project_dir(project))
    template = templates["review-fix"]
    names = list(template.roles)
    requests = [
        AgentRequest(
            name=role,
            profile=f"demo-{role if role in ('reviewer', 'fixer', 'checker') else 'reviewer'}",
            policy=ApprovalPolicy.APPROVE_EDITS if role == "fixer" else ApprovalPolicy.ASK,
        )
        for role in names
    ]
    task = "Review calc.py and its tests in this folder; fix what the review finds."
    inputs = resolve_inputs(template, {}, task)
    return template, inputs, requests, profiles, project
