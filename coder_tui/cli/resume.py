"""``coder-tui resume RUN``: go on with a run (or a session of agents) where it stopped."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from coder_tui import paths
from coder_tui.cli.common import (
    UsageError,
    fail,
    gates_mode,
    known_profiles,
    known_templates,
    launch,
    user_config,
)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui resume", description="Resume a run.")
    parser.add_argument("run", help="run id (or a unique prefix), or its folder")
    parser.add_argument("--headless", action="store_true")
    gates = parser.add_mutually_exclusive_group()
    gates.add_argument("--approve-gates", action="store_true")
    gates.add_argument("--reject-gates", action="store_true")
    args = parser.parse_args(argv)
    from coder_tui.core.agents.names import AgentNameError
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
    keymap: dict[str, str] = {}
    try:
        if not args.headless:
            keymap = user_config().keymap
        project = paths.project_dir(Path(state.cwd))
        if state.template:
            template = known_templates(project).get(state.template)
            if template is None:
                raise UsageError(f"the run's template {state.template!r} no longer exists")
        elif args.headless:
            raise UsageError(
                f"{state.run_id} is a session of agents without a template: resume it in the "
                "TUI (without --headless)"
            )
        profiles = known_profiles(project)
    except UsageError as exc:
        return fail(str(exc))
    options = HostOptions(
        startup_timeout=60.0 if args.headless else None, starts_agents=args.headless
    )
    try:
        host = RunHost.resumed(store, profiles, template, options=options)
    except AgentNameError as exc:
        return fail(f"run {state.run_id} cannot be resumed: {exc}")
    return launch(host, headless=args.headless, gates=gates_mode(args), resume=True, keymap=keymap)
