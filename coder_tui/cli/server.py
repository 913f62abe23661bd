"""``coder-tui server``: start the per-user server (in the background, or ``--foreground``),
stop it (``--stop``), or print its API's schema (``--schema``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import Sequence

from coder_tui import paths
from coder_tui.cli.common import fail


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="coder-tui server",
        description=(
            "The per-user server that owns the agents: every coder-tui command starts it when "
            "it needs it; it exits by itself when no agent is alive and no client attached."
        ),
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--foreground", action="store_true", help="serve in this process")
    what.add_argument("--stop", action="store_true", help="stop the server and its agents")
    what.add_argument("--schema", action="store_true", help="print the API's JSON schema")
    args = parser.parse_args(argv)
    if args.schema:
        from coder_tui.server.schema import api_schema

        print(json.dumps(api_schema(), indent=2))
        return 0
    if args.foreground:
        from coder_tui.server.daemon import ServerRunning, run_server

        try:
            return run_server()
        except ServerRunning as exc:
            return fail(str(exc))
        except OSError as exc:
            return fail(f"the server cannot start: {exc}")
    if args.stop:
        pid = asyncio.run(_stop())
        if pid <= 0:
            return -pid
        if not _gone(pid, within=30.0):
            return fail(f"the server (pid {pid}) did not stop within 30 s")
        print(f"coder-tui server {pid} stopped")
        return 0
    return asyncio.run(_start())


async def _start() -> int:
    from coder_tui.client.connection import ServerError, connect, open_connection

    try:
        connection = await open_connection(client="cli")
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    except ServerError as exc:
        return fail(str(exc))
    else:
        pid = connection.welcome.server_pid
        await connection.close()
        return fail(
            f"a coder-tui server is already running (pid {pid}, socket {paths.socket_path()})"
        )
    try:
        connection = await connect(client="cli")
    except ServerError as exc:
        return fail(str(exc))
    print(f"coder-tui server {connection.welcome.server_pid} on {paths.socket_path()}")
    await connection.close()
    return 0


async def _stop() -> int:
    """Ask the server to stop; its pid, or minus the exit code when there is nothing to wait
    for (0: none was running)."""
    from coder_tui.client.connection import ServerError, open_connection
    from coder_tui.server.protocol import Shutdown

    try:
        connection = await open_connection(client="cli")
    except (FileNotFoundError, ConnectionRefusedError):
        print("no coder-tui server is running")
        return 0
    except ServerError as exc:
        return -fail(str(exc))
    pid = connection.welcome.server_pid
    with contextlib.suppress(ServerError):  # it may go away while answering: stopped either way
        await connection.request(lambda i: Shutdown(id=i))
    await connection.close()
    return pid


def _gone(pid: int, *, within: float) -> bool:
    """Wait until process ``pid`` has exited (its agents stopped first)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(") ", 1)[1].startswith("Z"):
                    return True  # exited; its parent has yet to reap it
        except (ProcessLookupError, FileNotFoundError):
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False
