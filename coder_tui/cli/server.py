"""``coder-tui server``: start the per-user server (in the background, or ``--foreground``),
stop it (``--stop``), or print its API's schema (``--schema``)."""

from __future__ import annotations

import argparse
import asyncio
import json
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
        return asyncio.run(_stop())
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
    from coder_tui.client.connection import ServerError, open_connection
    from coder_tui.server.protocol import Shutdown

    try:
        connection = await open_connection(client="cli")
    except (FileNotFoundError, ConnectionRefusedError):
        print("no coder-tui server is running")
        return 0
    except ServerError as exc:
        return fail(str(exc))
    pid = connection.welcome.server_pid
    try:
        await connection.request(lambda i: Shutdown(id=i))
    except ServerError:
        pass  # it went away while answering: stopped either way
    deadline = time.monotonic() + 30
    while paths.socket_path().exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await connection.close()
    if paths.socket_path().exists():
        return fail(f"the server (pid {pid}) did not stop within 30 s")
    print(f"coder-tui server {pid} stopped")
    return 0
