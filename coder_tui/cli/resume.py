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
    parser.add_argument(
        "--detach", action="store_true", help="resume it in the coder-tui server and return"
    )
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
    if live in (RunStatus.RUNNING, RunStatus.PAUSED) and not released(state):
        going_on = resume_live(state.run_id)
        if going_on is not None:
            return going_on
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
    from coder_tui.core.agents.names import check_agent_name

    try:  # before anything starts (run.json is a file one can edit)
        for name in state.agents:
            check_agent_name(name)
    except AgentNameError as exc:
        return fail(f"run {state.run_id} cannot be resumed: {exc}")
    if args.headless and not args.detach:
        options = HostOptions(startup_timeout=60.0, starts_agents=True)
        try:
            host = RunHost.resumed(store, profiles, template, options=options)
        except AgentNameError as exc:
            return fail(f"run {state.run_id} cannot be resumed: {exc}")
        return launch(host, headless=True, gates=gates_mode(args), resume=True)
    import os

    from coder_tui.cli.run import hand_over
    from coder_tui.cli.tui import run_client
    from coder_tui.client.connection import connect
    from coder_tui.server.protocol import ResumeRun

    request = ResumeRun(
        id=0,
        run=str(store.run_dir),
        env=dict(os.environ),
        headless=args.detach,
        detached=args.detach,
    )
    if args.detach:
        return hand_over(request)
    return run_client(resume=request, connect=lambda: connect(client="tui"), keymap=keymap)


def resume_live(run_id: str) -> int | None:
    """A run the server has live: ``resume`` goes on with it if paused (or says where it
    runs). None when no server has it (its owner is another process)."""
    import asyncio

    from coder_tui.client.connection import ServerError, connect
    from coder_tui.server.protocol import RunCommand, Status, StatusResult

    async def go_on() -> int | None:
        try:
            connection = await connect(client="cli", start=False)
        except (ServerError, OSError):
            return None
        try:
            status = await connection.request(lambda i: Status(id=i))
            assert isinstance(status, StatusResult)
            for session in status.sessions:
                run = session.run
                if run is None or run.run_id != run_id:
                    continue
                if run.paused and run.in_progress:
                    where = session.session
                    await connection.request(
                        lambda i, where=where: RunCommand(id=i, command="resume", run=where)  # type: ignore[misc]
                    )
                    print(f"run {run_id} goes on (session {session.session})")
                    return 0
                return fail(
                    f"run {run_id} is {run.status} in the coder-tui server, session "
                    f"{session.session}: coder-tui attach {session.session} shows it"
                )
            return None
        except ServerError as exc:
            return fail(str(exc))
        finally:
            await connection.close()

    return asyncio.run(go_on())
