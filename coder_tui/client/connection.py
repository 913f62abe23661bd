"""A client's connection to the coder-tui server, started on demand.

``connect()`` finds the server of this user and state dir by its socket; when none listens it
starts one (``coder-tui server --foreground`` in a session of its own, logging to the state
dir) and waits for its socket. Requests get an id and wait for their Reply; events (frames,
posts, status) go to the ``on_event`` callback in the order the server sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from coder_tui import paths
from coder_tui.server.protocol import (
    PROTOCOL_VERSION,
    Hello,
    Message,
    ProtocolError,
    Receipt,
    Reply,
    ReplyResult,
    Request,
    Welcome,
    encode,
    handshake_fields,
    read_frame,
    server_decoder,
    version_mismatch,
)

START_TIMEOUT = 20.0  # seconds a started server has to open its socket


class ServerError(Exception):
    """The server cannot be reached, refused us, or answered a request with an error."""


EventListener = Callable[[Message], None]


class ServerConnection:
    """One open connection; close it with ``close()`` (the server sees a detach)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        welcome: Welcome,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.welcome = welcome
        self.on_event: EventListener = lambda message: None
        self.on_lost: Callable[[], None] = lambda: None
        self._next_id = 1
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        self._receipts: dict[int, Callable[[Receipt], None]] = {}
        self._reader_task = asyncio.create_task(self._read_loop())
        self.closed = False

    async def request(
        self,
        build: Callable[[int], Request],
        *,
        on_receipt: Callable[[Receipt], None] | None = None,
    ) -> ReplyResult:
        """Send the request ``build(id)`` makes and return its result; ServerError with the
        server's sentence when it could not be done."""
        if self.closed:
            raise ServerError("the connection to the coder-tui server is closed")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        if on_receipt is not None:
            self._receipts[request_id] = on_receipt
        self.writer.write(encode(build(request_id)))
        try:
            reply = await future
        finally:
            self._waiting.pop(request_id, None)
            self._receipts.pop(request_id, None)
        if not reply.ok:
            raise ServerError(reply.error)
        return reply.result

    def send(self, message: Message) -> None:
        """Input (keys, paste, mouse, resize): no answer."""
        if not self.closed:
            self.writer.write(encode(message))

    async def _read_loop(self) -> None:
        try:
            while True:
                body = await read_frame(self.reader)
                if body is None:
                    break
                try:
                    message = server_decoder.decode(body)
                except msgspec.DecodeError:
                    continue
                if isinstance(message, Reply):
                    future = self._waiting.get(message.id)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif isinstance(message, Receipt):
                    listener = self._receipts.get(message.id)
                    if listener is not None:
                        listener(message)
                else:
                    self.on_event(message)
        except (ConnectionError, ProtocolError):
            pass
        finally:
            self._lost()

    def _lost(self) -> None:
        was_open = not self.closed
        self.closed = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ServerError("the coder-tui server went away"))
        if was_open:
            self.on_lost()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._reader_task.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def open_connection(
    socket_path: Path | None = None, *, client: str = "cli"
) -> ServerConnection:
    """Connect and shake hands. FileNotFoundError/ConnectionRefusedError: no server there."""
    path = socket_path or paths.socket_path()
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
    return await handshake(reader, writer, client=client, where=str(path))


async def handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, client: str, where: str
) -> ServerConnection:
    """Hello, and the server's Welcome: a connection over any pair of streams (the socket,
    or ``ssh HOST coder-tui proxy``'s pipes)."""
    writer.write(encode(Hello(version=PROTOCOL_VERSION, client=client)))
    try:
        body = await read_frame(reader)
    except ProtocolError as exc:
        writer.close()
        raise ServerError(f"{where}: {exc}") from None
    if body is None:
        writer.close()
        raise ServerError(f"the coder-tui server at {where} closed the connection at once")
    try:
        fields = handshake_fields(body)
    except ProtocolError as exc:
        writer.close()
        raise ServerError(f"{where}: {exc}") from None
    if fields.get("type") == "refused":
        writer.close()
        raise ServerError(str(fields.get("reason", "refused")))
    if fields.get("type") != "welcome" or fields.get("version") != PROTOCOL_VERSION:
        writer.close()
        raise ServerError(version_mismatch(int(fields.get("version") or 0), PROTOCOL_VERSION))
    welcome = msgspec.convert(fields, Welcome)
    return ServerConnection(reader, writer, welcome)


def start_server() -> subprocess.Popen[bytes]:
    """Start ``coder-tui server --foreground`` detached from this terminal: its own session,
    no stdin, its output in the server log (it outlives this process)."""
    log_path = paths.server_log()
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "coder_tui", "server", "--foreground"],
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)


async def connect(*, client: str = "cli", start: bool = True) -> ServerConnection:
    """The server's connection, starting the server when none runs (``start``)."""
    path = paths.socket_path()
    try:
        return await open_connection(path, client=client)
    except (FileNotFoundError, ConnectionRefusedError):
        if not start:
            raise ServerError("no coder-tui server is running") from None
    process = start_server()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return await open_connection(path, client=client)
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        code = process.poll()
        if code is not None:
            # It may have lost the race to another server starting at the same moment.
            with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
                return await open_connection(path, client=client)
            raise ServerError(
                f"the coder-tui server did not start (exit code {code}); see {paths.server_log()}"
            )
        if time.monotonic() > deadline:
            raise ServerError(
                f"the coder-tui server did not open {path} within {START_TIMEOUT:.0f} s; "
                f"see {paths.server_log()}"
            )
        await asyncio.sleep(0.05)
