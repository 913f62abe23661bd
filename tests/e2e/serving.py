"""A local HTTP server run in a daemon thread: what the fake model server and the refusing
proxy share (start, stop, context manager, base URL)."""

from __future__ import annotations

import threading
from http.server import HTTPServer
from types import TracebackType
from typing import Self


class BackgroundServer:
    """Serves ``httpd`` in a daemon thread. The port is bound when ``httpd`` is made, so
    ``url`` is valid before :meth:`start`."""

    def __init__(self, httpd: HTTPServer, name: str) -> None:
        self._httpd = httpd
        self._name = name
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name=self._name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"
