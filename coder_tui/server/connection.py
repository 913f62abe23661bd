"""One client on the server's socket: its handshake, its requests, what is sent to it.

Nothing a client does can slow an agent: frames go out only while its socket takes them
(screens.PaneFeed coalesces the rest), and a client that stops reading altogether is
disconnected once CLIENT_BUFFER_MAX bytes of other messages wait for it (it can attach again
and gets the whole screen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec

from coder_tui import __version__
from coder_tui.core.tasks import spawn
from coder_tui.server.protocol import (
    PROTOCOL_VERSION,
    Frame,
    Message,
    ProtocolError,
    Receipt,
    Refused,
    Reply,
    ReplyResult,
    Request,
    Welcome,
    client_decoder,
    encode,
    handshake_fields,
    read_frame,
    version_mismatch,
)

if TYPE_CHECKING:
    from coder_tui.server.screens import PaneFeed

log = logging.getLogger(__name__)

FRAME_BUFFER_HIGH = 256 * 1024  # frames wait (coalesced) while more than this is unsent
CLIENT_BUFFER_MAX = 64 * 1024 * 1024  # a client this far behind is disconnected


class ApiError(Exception):
    """A request that cannot be done; the message goes back to the client as it is."""


class ClientConnection:
    """The server's side of one connection."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        peer: str,
        handle: Callable[[ClientConnection, Request], Awaitable[ReplyResult]],
        on_input: Callable[[ClientConnection, Message], None],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.client_kind = ""
        self._handle = handle
        self._on_input = on_input
        self._closed = False
        self._drain_waiters: set[PaneFeed] = set()
        self._drain_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self.on_close: list[Callable[[ClientConnection], None]] = []
        # request id -> what to do right after its reply is sent (attach: the history)
        self.after_reply: dict[int, Callable[[], None]] = {}

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: Message) -> None:
        if self._closed:
            return
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > CLIENT_BUFFER_MAX:
            log.warning("client %s is %d bytes behind: disconnected", self.peer, CLIENT_BUFFER_MAX)
            self.close()
            return
        self.writer.write(encode(message))

    def can_take_frames(self) -> bool:
        transport = self.writer.transport
        return not self._closed and transport.get_write_buffer_size() <= FRAME_BUFFER_HIGH

    def send_frame(self, frame: Frame) -> None:
        self.send(frame)

    def when_drained(self, feed: PaneFeed) -> None:
        """Offer ``feed`` again once the socket has room."""
        self._drain_waiters.add(feed)
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = spawn(self._drain(), name=f"drain-{self.peer}")

    async def _drain(self) -> None:
        while self._drain_waiters and not self._closed:
            try:
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                return
            waiting, self._drain_waiters = self._drain_waiters, set()
            for feed in waiting:
                feed.offer(self)
            await asyncio.sleep(0)

    # --- receiving ---------------------------------------------------------------------------

    async def serve(self) -> None:
        try:
            if await self._handshake():
                await self._read_loop()
        except ProtocolError as exc:
            log.warning("client %s: %s", self.peer, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()

    async def _handshake(self) -> bool:
        body = await read_frame(self.reader)
        if body is None:
            return False
        fields = handshake_fields(body)
        if fields.get("type") != "hello" or not isinstance(fields.get("version"), int):
            self.send(Refused(reason="the first message must be hello", server_version=1))
            return False
        version = fields["version"]
        if version != PROTOCOL_VERSION:
            reason = version_mismatch(PROTOCOL_VERSION, version)
            self.send(Refused(reason=reason, server_version=PROTOCOL_VERSION))
            await self._flush()
            return False
        self.client_kind = str(fields.get("client", ""))
        log.info("client %s (%s) connected", self.peer, self.client_kind or "?")
        self.send(Welcome(version=PROTOCOL_VERSION, server_pid=_pid(), coder_tui=__version__))
        return True

    async def _read_loop(self) -> None:
        while True:
            body = await read_frame(self.reader)
            if body is None:
                return
            try:
                message = client_decoder.decode(body)
            except msgspec.DecodeError as exc:
                log.warning("client %s sent a bad message: %s", self.peer, exc)
                continue
            if isinstance(message, Request):
                spawn(
                    self._answer(message),
                    name=f"request-{type(message).__name__}",
                    keep=self._tasks,
                )
            else:
                try:
                    self._on_input(self, message)
                except Exception:
                    log.exception("input from %s failed", self.peer)

    async def _answer(self, request: Request) -> None:
        try:
            result = await self._handle(self, request)
        except ApiError as exc:
            self.send(Reply(id=request.id, ok=False, error=str(exc)))
        except Exception as exc:
            log.exception("request %s failed", type(request).__name__)
            self.send(Reply(id=request.id, ok=False, error=f"internal error: {exc!r}"))
        else:
            self.send(Reply(id=request.id, result=result))
            follow_up = self.after_reply.pop(request.id, None)
            if follow_up is not None:
                follow_up()

    def receipt(self, request: Request, stage: str, detail: str = "") -> None:
        self.send(Receipt(id=request.id, stage=stage, detail=detail))

    # --- end ---------------------------------------------------------------------------------

    async def _flush(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError):
            await asyncio.wait_for(self.writer.drain(), 2.0)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for listener in self.on_close:
            try:
                listener(self)
            except Exception:
                log.exception("close listener failed")
        self.writer.close()
        log.info("client %s disconnected", self.peer)

    @property
    def closed(self) -> bool:
        return self._closed


def _pid() -> int:
    import os

    return os.getpid()
