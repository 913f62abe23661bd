"""A refusing HTTP(S) proxy: the CLIs' only way out, so any call to the internet is seen.

The CLIs are started with ``HTTPS_PROXY``/``HTTP_PROXY`` pointing here and ``NO_PROXY`` for
127.0.0.1, so the fake model server is reached directly and everything else comes here. Every
``CONNECT`` and every plain proxied request is refused with 403 and recorded: a test then
asserts ``proxy.violations() == []``. Hosts listed in ``allowed`` are refused all the same
but not counted as violations (Codex's TUI fetches an announcement tip once per start).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.e2e.serving import BackgroundServer

CODEX_TIP_HOST = "raw.githubusercontent.com"
"""Codex 0.169's TUI sends one ``CONNECT raw.githubusercontent.com:443`` per start (its
announcement tip; refused, harmless). ``codex exec``, Claude (``-p`` or interactive) and Gemini
(``-p`` or interactive) were seen making no outside attempt with ``homes.py``'s settings."""


@dataclass(frozen=True)
class ProxyAttempt:
    """One refused attempt to leave the machine."""

    method: str
    host: str
    port: int
    target: str
    allowed: bool
    time: float


class RefusingProxy(BackgroundServer):
    """Refuses and records every proxied request; use as a context manager or start/stop."""

    def __init__(self, allowed: Iterable[str] = (), host: str = "127.0.0.1") -> None:
        self.allowed = frozenset(allowed)
        self._lock = threading.Lock()
        self._attempts: list[ProxyAttempt] = []
        super().__init__(_Server((host, 0), _Handler, self), "refusing-proxy")

    @property
    def attempts(self) -> list[ProxyAttempt]:
        """Every refused attempt so far, allowed or not, in arrival order."""
        with self._lock:
            return list(self._attempts)

    def violations(self) -> list[ProxyAttempt]:
        """Attempts to reach a host not in ``allowed``: each one is a leak to report."""
        return [a for a in self.attempts if not a.allowed]

    def hosts(self) -> list[str]:
        """``host:port`` of each attempt, for readable assertion messages."""
        return [f"{a.host}:{a.port}" for a in self.attempts]

    def record_attempt(self, method: str, target: str) -> None:
        """Note one refused request (called by the handler threads)."""
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            default = 443
        else:
            parts = urlsplit(target)
            host, port = parts.hostname or "", str(parts.port or "")
            default = 443 if parts.scheme == "https" else 80
        host = host.strip("[]")
        attempt = ProxyAttempt(
            method=method,
            host=host,
            port=int(port) if port.isdigit() else default,
            target=target,
            allowed=host in self.allowed,
            time=time.time(),
        )
        with self._lock:
            self._attempts.append(attempt)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        proxy: RefusingProxy,
    ) -> None:
        super().__init__(address, handler)
        self.proxy = proxy


class _Handler(BaseHTTPRequestHandler):
    """Answers 403 to anything, then closes: no tunnel is ever opened."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: ``attempts`` is the log."""

    def _refuse(self) -> None:
        self.server.proxy.record_attempt(self.command, self.path)
        body = b"coder-tui e2e proxy: outside network access refused\n"
        self.send_response(403)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    do_CONNECT = do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _refuse
