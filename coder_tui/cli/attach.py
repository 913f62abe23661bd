"""``coder-tui attach [SESSION] [--ssh HOST]`` shows a session that runs in the server, and
``coder-tui proxy`` is the stdio bridge to this host's server that ``--ssh`` runs on the far
side (``ssh HOST coder-tui proxy``): OpenSSH carries the bytes, nothing home-made is on the
network, and the far server checks the peer as for any local client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from coder_tui.cli.common import UsageError, fail, user_config

SSH = os.environ.get("CODER_TUI_SSH", "ssh")  # the OpenSSH client (tests point it at theirs)


def attach_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="coder-tui attach",
        description="Show a session that runs in the coder-tui server (default: the newest).",
    )
    parser.add_argument("session", nargs="?", default="", help="session id (see coder-tui ls)")
    parser.add_argument(
        "--ssh",
        metavar="HOST",
        default="",
        help="attach to HOST's server over OpenSSH (runs `ssh HOST coder-tui proxy`)",
    )
    args = parser.parse_args(argv)
    try:
        keymap = user_config().keymap
    except UsageError as exc:
        return fail(str(exc))
    connect = ssh_connector(args.ssh) if args.ssh else local_connector()
    try:
        session = args.session or asyncio.run(newest_session(connect))
    except Exception as exc:
        from coder_tui.client.connection import ServerError

        if isinstance(exc, (ServerError, OSError)):
            return fail(str(exc))
        raise
    from coder_tui.cli.tui import run_client

    return run_client(attach=session, connect=connect, keymap=keymap, where=args.ssh)


Connector = Callable[[], Awaitable[object]]


def local_connector() -> Callable[[], Awaitable[object]]:
    from coder_tui.client.connection import connect

    return lambda: connect(client="tui", start=False)


def ssh_connector(host: str) -> Callable[[], Awaitable[object]]:
    """A connection to ``host``'s server through ``ssh HOST coder-tui proxy``."""

    async def connect() -> object:
        from coder_tui.client.connection import ServerError, handshake

        process = await asyncio.create_subprocess_exec(
            SSH,
            "-T",
            "-o",
            "BatchMode=yes",
            host,
            "coder-tui",
            "proxy",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            return await handshake(process.stdout, process.stdin, client="tui", where=f"ssh {host}")
        except ServerError as exc:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            error = b""
            if process.stderr is not None:
                with contextlib.suppress(TimeoutError):
                    error = await asyncio.wait_for(process.stderr.read(4000), 5)
            said = error.decode(errors="replace").strip()
            raise ServerError(f"{exc}{': ' + said if said else ''}") from None

    return connect


async def newest_session(connect: Callable[[], Awaitable[object]]) -> str:
    from coder_tui.client.connection import ServerConnection, ServerError
    from coder_tui.server.protocol import Status, StatusResult

    connection = await connect()
    assert isinstance(connection, ServerConnection)
    try:
        result = await connection.request(lambda i: Status(id=i))
    finally:
        await connection.close()
    assert isinstance(result, StatusResult)
    if not result.sessions:
        raise ServerError("no session runs in the coder-tui server (start one: coder-tui)")
    return max(result.sessions, key=lambda s: s.created).session


def proxy_main(argv: Sequence[str]) -> int:
    argparse.ArgumentParser(
        prog="coder-tui proxy",
        description="Bridge stdin/stdout to this host's coder-tui server (for attach --ssh).",
    ).parse_args(argv)
    return asyncio.run(_proxy())


async def _proxy() -> int:
    """Bytes both ways until either side ends; the server is started if none runs."""
    from coder_tui import paths
    from coder_tui.client.connection import ServerError, connect

    # Make sure a server listens (connect starts one), then bridge raw bytes to its socket.
    try:
        probe = await connect(client="proxy")
    except ServerError as exc:
        return fail(str(exc))
    await probe.close()
    reader, writer = await asyncio.open_unix_connection(str(paths.socket_path()))
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin.buffer)
    out_transport, out_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout.buffer
    )
    stdout = asyncio.StreamWriter(out_transport, out_protocol, None, loop)

    async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(1 << 16):
            sink.write(data)
            await sink.drain()

    tasks = [asyncio.create_task(pump(stdin, writer)), asyncio.create_task(pump(reader, stdout))]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    writer.close()
    return 0
