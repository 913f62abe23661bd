"""A scripted fake model server for end-to-end tests with the real agent CLIs.

The real Claude Code, Codex and Gemini CLIs are pointed at this server (see ``homes.py``) so a
test decides, turn by turn, what "the model" answers, and checks afterwards what each CLI sent.
It speaks the three streaming wire protocols the CLIs use, as SSE: Anthropic Messages, OpenAI
Responses and Gemini ``streamGenerateContent``. It runs in a background thread, so synchronous
tests and asyncio tests (Textual pilots) can share it.

Kinds of request (``RecordedRequest.kind``):

- ``turn``: a new prompt; pops the next scripted :class:`Reply` or :class:`WriteFile` of its API.
- ``tool_result``: the CLI's answer to a tool call the server asked for; answered with the next
  tool call of the :class:`WriteFile` or, at the end, its ``then`` text.
- side calls, answered automatically and never taken from the script because their number and
  timing vary between CLI versions: ``schema`` (anything asking for JSON by schema: titles,
  routing; answered with JSON that fits), ``side`` (no tools offered), ``count_tokens``,
  ``other`` (model lists, probes, unknown routes).

Wire facts seen with Claude Code 2.1.197 and 2.1.332, codex-cli 0.169.0 and 0.171.0 and Gemini
CLI 0.61.0:

- Claude ``-p``: a single ``POST /v1/messages?beta=true`` per model turn (``stream: true``,
  about 25 tools, model ``claude-opus-4-8``), no title call. Interactive: one title side call
  (model ``claude-haiku-4-5-20251001``, no tools, ``output_config.format`` json_schema with
  ``title``) just before the session's first turn. The first user message holds
  ``<system-reminder>`` text blocks before the prompt; ``output_config`` is also sent on main
  turns (``{"effort": ...}``) but without ``format``. ``Write`` on an existing file fails with
  "File has not been read yet" unless ``Read`` ran first in the session, so :class:`WriteFile`
  asks for a ``Read`` first when the file exists. A tool result is a user message with a
  ``tool_result`` block (``is_error: true`` when denied). A denial sends nothing at once: the
  next request carries the rejected ``tool_result``, a ``[Request interrupted by user for tool
  use]`` text and the new prompt, all in one user message.
- Codex: ``POST /v1/responses`` (``stream: true``; header ``x-codex-turn-metadata`` has
  ``thread_source``: ``user`` or ``thread_title``). The prompt is the last ``role: user`` input
  message (earlier ones hold ``<environment_context>``). ``codex exec`` makes no title call; the
  TUI makes one after the first turn's request (``text.format`` json_schema ``{title:
  string, maxLength 36}``, one tool). The tool result is an input item
  ``custom_tool_call_output`` whose ``output`` contains ``Success. Updated the following
  files:`` when the patch applied; Esc at the approval prompt sends ``aborted by user after
  N s`` only with the next prompt, after a ``<turn_aborted>`` user message. In a trusted
  project apply_patch inside the workspace needs no approval (``-s read-only -a on-request``
  makes it ask). ``Update File`` with a hunk of every old line then every new line works.
- Gemini: the prompt is a text part next to a ``<session_context>`` part in one user content.
  The server's ``functionCall`` ``id`` is sent back in the ``functionResponse``, whose
  ``response`` holds ``output`` (success) or ``error``. Denying (Esc) cancels the turn: no
  request, the call vanishes from history, and the next prompt is appended to the previous
  user content; the server records such a call as abandoned (see :data:`ABANDONED_TEXT`).
  ``gemini -p`` refuses an untrusted folder (exit 55) unless ``--skip-trust`` or
  ``GEMINI_CLI_TRUST_WORKSPACE=true``; without ``--approval-mode auto_edit|yolo`` it does not
  even offer ``write_file``. No side call was seen with ``model.name`` set; without it, each
  turn starts with a non-streaming ``POST .../gemini-3.5-flash-lite:generateContent`` whose
  ``responseJsonSchema`` asks for ``complexity_reasoning`` and ``complexity_score`` (validated
  as at least 1), and the turn then goes to a flash or pro model chosen from the score.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import threading
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

from tests.e2e.serving import BackgroundServer

Api = Literal["anthropic", "openai", "gemini"]
APIS: tuple[Api, ...] = ("anthropic", "openai", "gemini")

RequestKind = Literal["turn", "tool_result", "schema", "side", "count_tokens", "other"]
MAIN_KINDS: frozenset[str] = frozenset({"turn", "tool_result"})

NO_SCRIPT_TEXT = "[fake-model: no scripted reply]"
"""Answered when a main request finds nothing to answer with; an error is recorded too."""

ABANDONED_TEXT = "[fake-model: tool call abandoned: the next prompt came without its result]"
"""``ToolOutcome.output`` for a tool call the CLI dropped (Gemini's way of denying)."""


@dataclass(frozen=True)
class Reply:
    """A plain text answer, streamed in a few chunks.

    ``delay`` pauses before the final chunk so a test can watch the CLI in its "working" state.
    """

    text: str
    delay: float = 0.0


@dataclass(frozen=True)
class WriteFile:
    """Ask the CLI to write ``content`` to ``path`` with its own file-write tool.

    The request carrying the tool's result (success or denial) is answered with ``then``.
    Use an absolute path: each CLI resolves relative paths its own way. Codex's apply_patch
    always ends a file with a newline, so ``content`` should end with one.
    """

    path: str
    content: str
    then: str = "done"


Turn = Reply | WriteFile


@dataclass(frozen=True)
class ToolOutcome:
    """What the CLI reported back for a tool call, so tests can tell success from denial."""

    api: Api
    tool: str
    path: str
    succeeded: bool
    output: str


@dataclass
class RecordedRequest:
    """One HTTP request as the server saw it (headers lower-cased, JSON body parsed).

    ``time`` is ``time.monotonic()`` at arrival, comparable with a test's own clock.
    ``tool_outcome`` is the result of a server-requested tool call this request delivered.
    """

    api: Api | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    time: float
    kind: RequestKind = "other"
    user_text: str | None = None
    tool_outcome: ToolOutcome | None = None

    @property
    def is_side_call(self) -> bool:
        """Side calls are answered automatically and do not consume the script."""
        return self.kind not in MAIN_KINDS


@dataclass(frozen=True)
class _Call:
    """A tool call the server asked a CLI to make; ``args`` is a string for Codex's patch."""

    id: str
    name: str
    args: dict[str, Any] | str
    path: str


@dataclass
class _Pending:
    """A WriteFile turn in progress: the call in flight and the calls still to ask for."""

    turn: WriteFile
    current: _Call
    rest: list[_Call]


@dataclass(frozen=True)
class _Pause:
    """A pause inside a stream (a scripted ``Reply.delay``)."""

    seconds: float


Stream = list[bytes | _Pause]


@dataclass
class _Answer:
    """An HTTP answer: a JSON document, or an SSE stream with optional pauses."""

    status: int = 200
    json_body: Any = None
    stream: Stream | None = None


@dataclass
class _State:
    """Everything the handler threads share; ``changed`` (with its lock) guards all of it."""

    changed: threading.Condition = field(default_factory=threading.Condition)
    scripts: dict[Api, list[Turn]] = field(default_factory=lambda: {api: [] for api in APIS})
    pending: dict[Api, _Pending | None] = field(default_factory=lambda: dict.fromkeys(APIS))
    requests: list[RecordedRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def error(self, message: str) -> None:
        with self.changed:
            self.errors.append(message)


_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


class FakeModelServer(BackgroundServer):
    """The fake model server; use as a context manager, or call :meth:`start` and :meth:`stop`.
    ``url`` is the base URL, without ``/v1``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._state = _State()
        super().__init__(_Server((host, 0), _Handler, self._state), "fake-model")

    def stop(self) -> None:
        """Stop serving, cutting short any scripted pause still running."""
        self._state.stopping.set()
        super().stop()

    def script(self, api: Api, *turns: Turn) -> None:
        """Append turns to ``api``'s script; each new prompt of that API pops one."""
        if api not in APIS:
            raise ValueError(f"unknown api {api!r}; expected one of {APIS}")
        with self._state.changed:
            self._state.scripts[api].extend(turns)

    def remaining(self, api: Api) -> list[Turn]:
        """Turns not consumed yet, so a test can check the CLI asked for all of them."""
        with self._state.changed:
            return list(self._state.scripts[api])

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._state.changed:
            return list(self._state.requests)

    @property
    def errors(self) -> list[str]:
        """Surprises: empty script, stray tool result, unknown route, unreadable body."""
        with self._state.changed:
            return list(self._state.errors)

    def main_requests(self, api: Api) -> list[RecordedRequest]:
        """Turns and tool results of ``api``: the requests a script is about."""
        return [r for r in self.requests if r.api == api and not r.is_side_call]

    def side_calls(self, api: Api | None = None) -> list[RecordedRequest]:
        """Requests answered automatically, optionally for one API."""
        return [r for r in self.requests if r.is_side_call and (api is None or r.api == api)]

    def user_texts(self, api: Api) -> list[str]:
        """The prompt of each ``turn`` request of ``api``, in order (tool results carry none)."""
        return [r.user_text or "" for r in self.requests if r.api == api and r.kind == "turn"]

    def tool_outcomes(self, api: Api | None = None) -> list[ToolOutcome]:
        """Results of the tool calls the server asked for, in order."""
        return [
            r.tool_outcome
            for r in self.requests
            if r.tool_outcome is not None and (api is None or r.api == api)
        ]

    def wait_until(
        self, predicate: Callable[[FakeModelServer], object], timeout: float = 10.0
    ) -> bool:
        """Block until ``predicate(self)`` holds (checked at each request); False on timeout.

        For synchronous tests; asyncio tests should poll with their own ``wait_for``.
        """
        with self._state.changed:
            return bool(self._state.changed.wait_for(lambda: predicate(self), timeout))


class _Server(ThreadingHTTPServer):
    """Carries the shared state to the handlers; handler threads never block shutdown."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], state: _State
    ) -> None:
        super().__init__(address, handler)
        self.state = state


class _Handler(BaseHTTPRequestHandler):
    """Reads and records each request, routes it to its API, and writes the answer."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: ``requests`` is the log."""

    def _serve(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self._read_body(headers)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                state.error(f"body of {self.command} {parts.path} is not JSON")
        record = RecordedRequest(
            api=_api_of(parts.path, headers),
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers=headers,
            body=body,
            time=time.monotonic(),
        )
        try:
            answer = _route(state, record)
        except Exception as exc:  # a bug here must fail the test, not hang the CLI
            state.error(f"fake model crashed on {self.command} {parts.path}: {exc!r}")
            answer = _Answer(status=500, json_body={"error": {"message": repr(exc)}})
        with state.changed:
            state.requests.append(record)
            state.changed.notify_all()
        self._write(answer)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = _serve

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raw = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                raw += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
        else:
            raw = self.rfile.read(int(headers.get("content-length") or 0))
        encoding = headers.get("content-encoding", "identity").lower()
        decoders: dict[str, Callable[[bytes], bytes]] = {
            "gzip": gzip.decompress,
            "deflate": zlib.decompress,
            "identity": bytes,
        }
        if encoding not in decoders:
            self.server.state.error(f"unsupported request content-encoding {encoding!r}")
            return b""
        return decoders[encoding](raw)

    def _write(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            if answer.stream is None:
                data = b"" if answer.json_body is None else json.dumps(answer.json_body).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                return
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for item in answer.stream:
                if isinstance(item, _Pause):
                    if self.server.state.stopping.wait(item.seconds):
                        break
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(item), item))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the CLI hung up, e.g. the user pressed Esc


# -- routing and the conversation logic shared by the three APIs -----------------------------

_GEMINI_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):(?P<method>\w+)$")


def _api_of(path: str, headers: Mapping[str, str]) -> Api | None:
    """Which API a request belongs to, from its path, or its headers where paths overlap."""
    if path.startswith("/v1/messages") or "anthropic-version" in headers:
        return "anthropic"
    if path.startswith(("/v1beta/", "/v1alpha/")) or "x-goog-api-key" in headers:
        return "gemini"
    if path.startswith("/v1/"):
        return "openai"
    return None


def _route(state: _State, record: RecordedRequest) -> _Answer:
    """Set ``record.kind`` (and friends) and compute the answer."""
    method, path = record.method, record.path
    if method in ("GET", "HEAD", "OPTIONS") and path in ("", "/"):
        return _Answer(json_body={"ok": True})
    if record.api == "anthropic":
        if method == "POST" and path == "/v1/messages":
            return _converse(state, _ANTHROPIC, record)
        if method == "POST" and path == "/v1/messages/count_tokens":
            record.kind = "count_tokens"
            return _Answer(json_body={"input_tokens": _rough_tokens(record.body)})
        if method == "GET" and path.startswith("/v1/models"):
            ids = ["claude-opus-4-8", "claude-sonnet-4-5", "claude-haiku-4-5-20251001"]
            data = [{"type": "model", "id": i, "display_name": i} for i in ids]
            return _Answer(json_body={"data": data, "has_more": False})
    elif record.api == "openai":
        if method == "POST" and path == "/v1/responses":
            return _converse(state, _OPENAI, record)
        if method == "GET" and path.startswith("/v1/models"):
            data = [{"id": "gpt-5.5", "object": "model", "owned_by": "fake"}]
            return _Answer(json_body={"object": "list", "data": data})
    elif record.api == "gemini":
        match = _GEMINI_PATH.match(path)
        if match and method == "POST" and match["method"] == "countTokens":
            record.kind = "count_tokens"
            return _Answer(json_body={"totalTokens": _rough_tokens(record.body)})
        if match and method == "POST" and match["method"] in _GEMINI_GENERATE:
            wire = _GeminiWire(match["model"], streaming=match["method"] == "streamGenerateContent")
            return _converse(state, wire, record)
        if method == "GET" and path.endswith("/models"):
            return _Answer(json_body={"models": [{"name": "models/gemini-2.5-pro"}]})
    state.error(f"unhandled request {method} {path}")
    return _Answer(status=404, json_body={"error": {"message": f"fake model: no route {path}"}})


def _converse(state: _State, wire: _Wire, record: RecordedRequest) -> _Answer:
    """The script logic, the same for every API: side call, tool result, or new turn."""
    body: dict[str, Any] = record.body if isinstance(record.body, dict) else {}
    api = wire.api
    record.user_text = wire.prompt(body)
    schema = wire.schema(body)
    if schema is not None:
        record.kind = "schema"
        return wire.answer(body, text=json.dumps(json_for_schema(schema)))
    if not body.get("tools"):
        record.kind = "side"
        return wire.answer(body, text="ok")
    with state.changed:
        pending = state.pending[api]
        outcome = None
        if pending is not None:
            result = wire.results(body).get(pending.current.id)
            if result is not None:
                call = pending.current
                outcome = ToolOutcome(api, call.name, call.path, result[0], result[1])
        if wire.ends_with_result(body):
            record.kind = "tool_result"
            record.tool_outcome = outcome
            if pending is None or outcome is None:
                state.errors.append(f"{api}: tool result for no call the server made")
                return wire.answer(body, text=NO_SCRIPT_TEXT)
            if pending.rest:
                pending.current = pending.rest.pop(0)
                return wire.answer(body, call=pending.current)
            state.pending[api] = None
            return wire.answer(body, text=pending.turn.then)
        record.kind = "turn"
        if pending is not None:
            state.pending[api] = None
            call = pending.current
            record.tool_outcome = outcome or ToolOutcome(
                api, call.name, call.path, False, ABANDONED_TEXT
            )
        if not state.scripts[api]:
            state.errors.append(f"{api}: no scripted reply for prompt {record.user_text!r}")
            return wire.answer(body, text=NO_SCRIPT_TEXT)
        turn = state.scripts[api].pop(0)
        if isinstance(turn, Reply):
            return wire.answer(body, text=turn.text, delay=turn.delay)
        first, *rest = wire.write_calls(turn)
        state.pending[api] = _Pending(turn, first, rest)
        return wire.answer(body, call=first)


class _Wire(ABC):
    """One API's encoding: where the prompt and tool results are, how answers look."""

    api: ClassVar[Api]

    @abstractmethod
    def prompt(self, body: Mapping[str, Any]) -> str | None:
        """Text of the user's latest prompt, without the context the CLI adds around it."""

    @abstractmethod
    def schema(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The JSON schema the request wants the answer to fit, if any."""

    @abstractmethod
    def results(self, body: Mapping[str, Any]) -> dict[str, tuple[bool, str]]:
        """Every tool result in the history: call id -> (succeeded, output)."""

    @abstractmethod
    def ends_with_result(self, body: Mapping[str, Any]) -> bool:
        """Whether the request only delivers a tool result (no new prompt after it)."""

    @abstractmethod
    def write_calls(self, turn: WriteFile) -> list[_Call]:
        """The tool calls that make the CLI write the file (at least one)."""

    @abstractmethod
    def answer(
        self,
        body: Mapping[str, Any],
        *,
        text: str | None = None,
        call: _Call | None = None,
        delay: float = 0.0,
    ) -> _Answer:
        """A text answer or a tool call, streamed if the request asked for a stream."""


_CONTEXT_BLOCK = re.compile(r"\s*<([\w-]+)>.*</\1>\s*", re.S)


def _prompt_texts(texts: Sequence[str]) -> list[str]:
    """Drop what the CLIs add next to a prompt: ``<system-reminder>``-style blocks and
    Claude's ``[Request interrupted ...]`` marker."""
    return [
        t
        for t in texts
        if not _CONTEXT_BLOCK.fullmatch(t) and not t.startswith("[Request interrupted")
    ]


def _chunks(text: str, count: int = 3) -> list[str]:
    """Split a reply into a few pieces so the CLI really streams it."""
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _rough_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


def _sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _with_pause(head: Sequence[bytes], last: Sequence[bytes], delay: float) -> Stream:
    """``head``, then the scripted pause, then ``last`` (the final chunk and the stream's end)."""
    stream: Stream = list(head)
    if delay > 0:
        stream.append(_Pause(delay))
    stream.extend(last)
    return stream


# -- JSON schema answers ---------------------------------------------------------------------


def json_for_schema(schema: Mapping[str, Any], *, name: str = "") -> Any:
    """A small value that fits ``schema``: enough for title and routing side calls.

    Handles local ``$ref``, ``enum``/``const``, ``anyOf``/``oneOf``/``allOf``, string lengths
    and Gemini's upper-case OpenAPI type names. A ``title`` string reads ``Fake title``.
    """
    return _fit(schema, schema, name, 0)


def _fit(schema: Mapping[str, Any], root: Mapping[str, Any], name: str, depth: int) -> Any:
    if depth > 20:
        return None
    if "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _fit(target, root, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if options := schema.get(key):
            usable = [o for o in options if _type_of(o) != "null"] or options
            return _fit(usable[0], root, name, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            for key, value in part.items():
                merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
        return _fit(merged, root, name, depth + 1)
    kind = _type_of(schema)
    if kind == "object" or "properties" in schema:
        properties: Mapping[str, Any] = schema.get("properties", {})
        return {key: _fit(value, root, key, depth + 1) for key, value in properties.items()}
    if kind == "array":
        item = schema.get("items", {})
        return [_fit(item, root, name, depth + 1) for _ in range(int(schema.get("minItems", 0)))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)  # 1, not 0: Gemini's routing wants a 1-100 score
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    text = "Fake title" if "title" in name.lower() else f"fake {name}".strip()
    text = text.ljust(int(schema.get("minLength", 0)), "x")
    return text[: int(schema["maxLength"])] if "maxLength" in schema else text


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type", "")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    return str(kind).lower()


# -- Anthropic Messages ----------------------------------------------------------------------


class _AnthropicWire(_Wire):
    api = "anthropic"

    @staticmethod
    def _users(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
        """Content blocks of each user message (``role: system`` entries are skipped)."""
        users = []
        for message in body.get("messages") or []:
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    content = [{"type": "text", "text": content}]
                users.append([b for b in content or [] if isinstance(b, dict)])
        return users

    @staticmethod
    def _texts(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
        return _prompt_texts([str(b.get("text", "")) for b in blocks if b.get("type") == "text"])

    def prompt(self, body: Mapping[str, Any]) -> str | None:
        for blocks in reversed(self._users(body)):
            if texts := self._texts(blocks):
                return "\n".join(texts)
        return None

    def schema(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        fmt = (body.get("output_config") or {}).get("format") or {}
        return fmt.get("schema") if fmt.get("type") == "json_schema" else None

    def results(self, body: Mapping[str, Any]) -> dict[str, tuple[bool, str]]:
        found = {}
        for blocks in self._users(body):
            for block in blocks:
                if block.get("type") == "tool_result":
                    content = block.get("content")
                    if isinstance(content, list):
                        texts = [c.get("text", "") for c in content if isinstance(c, dict)]
                        content = "\n".join(str(t) for t in texts)
                    ok = not block.get("is_error", False)
                    found[str(block.get("tool_use_id"))] = (ok, str(content or ""))
        return found

    def ends_with_result(self, body: Mapping[str, Any]) -> bool:
        users = self._users(body)
        if not users:
            return False
        last = users[-1]
        return any(b.get("type") == "tool_result" for b in last) and not self._texts(last)

    def write_calls(self, turn: WriteFile) -> list[_Call]:
        write = _Call(
            _new_id("toolu_fake"),
            "Write",
            {"file_path": turn.path, "content": turn.content},
            turn.path,
        )
        if not Path(turn.path).exists():
            return [write]
        read = _Call(_new_id("toolu_fake"), "Read", {"file_path": turn.path}, turn.path)
        return [read, write]

    def answer(
        self,
        body: Mapping[str, Any],
        *,
        text: str | None = None,
        call: _Call | None = None,
        delay: float = 0.0,
    ) -> _Answer:
        if call is not None:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": call.args,
            }
            stop = "tool_use"
        else:
            block, stop = {"type": "text", "text": text or ""}, "end_turn"
        usage = {
            "input_tokens": _rough_tokens(body),
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        message = {
            "id": _new_id("msg_fake"),
            "type": "message",
            "role": "assistant",
            "model": str(body.get("model", "claude-fake")),
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return _Answer(json_body=message)
        if call is not None:
            opened: dict[str, Any] = {**block, "input": {}}
            pieces = _chunks(json.dumps(call.args))
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        else:
            opened = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": t} for t in _chunks(text or "")]
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        events = [
            _sse("message_start", {"type": "message_start", "message": start}),
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": opened},
            ),
            _sse("ping", {"type": "ping"}),
            *[
                _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
                for d in deltas
            ],
        ]
        end = [
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "usage": {"output_tokens": 5},
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]
        return _Answer(stream=_with_pause(events[:-1], [events[-1], *end], delay))


# -- OpenAI Responses ------------------------------------------------------------------------


class _OpenAIWire(_Wire):
    api = "openai"
    _OUTPUTS = ("custom_tool_call_output", "function_call_output")

    @staticmethod
    def _items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [i for i in body.get("input") or [] if isinstance(i, dict)]

    def prompt(self, body: Mapping[str, Any]) -> str | None:
        for item in reversed(self._items(body)):
            if item.get("role") != "user":
                continue
            content = item.get("content")
            if isinstance(content, str):
                content = [{"type": "input_text", "text": content}]
            texts = [str(c.get("text", "")) for c in content or [] if isinstance(c, dict)]
            if prompt := _prompt_texts(texts):
                return "\n".join(prompt)
        return None

    def schema(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        fmt = (body.get("text") or {}).get("format") or {}
        return (fmt.get("schema") or {}) if fmt.get("type") == "json_schema" else None

    def results(self, body: Mapping[str, Any]) -> dict[str, tuple[bool, str]]:
        found = {}
        for item in self._items(body):
            if item.get("type") in self._OUTPUTS:
                output = item.get("output")
                text = output if isinstance(output, str) else json.dumps(output)
                found[str(item.get("call_id"))] = ("Success." in text, text)
        return found

    def ends_with_result(self, body: Mapping[str, Any]) -> bool:
        items = self._items(body)
        return bool(items) and items[-1].get("type") in self._OUTPUTS

    def write_calls(self, turn: WriteFile) -> list[_Call]:
        patch = apply_patch_text(turn.path, turn.content)
        return [_Call(_new_id("call_fake"), "apply_patch", patch, turn.path)]

    def answer(
        self,
        body: Mapping[str, Any],
        *,
        text: str | None = None,
        call: _Call | None = None,
        delay: float = 0.0,
    ) -> _Answer:
        item_id = _new_id("item_fake")
        item: dict[str, Any]
        if call is not None:
            item = {
                "type": "custom_tool_call",
                "id": item_id,
                "call_id": call.id,
                "name": call.name,
                "input": call.args,
                "status": "completed",
            }
        else:
            part = {"type": "output_text", "text": text or "", "annotations": []}
            item = {
                "type": "message",
                "id": item_id,
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        usage = {
            "input_tokens": _rough_tokens(body),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": _rough_tokens(body) + 5,
        }
        response: dict[str, Any] = {
            "id": _new_id("resp_fake"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": str(body.get("model", "gpt-fake")),
            "output": [],
            "usage": None,
        }
        done = {**response, "status": "completed", "output": [item], "usage": usage}
        if not body.get("stream"):
            return _Answer(json_body=done)
        seq = itertools.count()

        def event(kind: str, **data: Any) -> bytes:
            return _sse(kind, {"type": kind, "sequence_number": next(seq), **data})

        where = {"item_id": item_id, "output_index": 0}
        events = [
            event("response.created", response=response),
            event("response.in_progress", response=response),
        ]
        if call is not None:
            events += [
                event(
                    "response.output_item.added",
                    output_index=0,
                    item={**item, "status": "in_progress", "input": ""},
                ),
                event("response.custom_tool_call_input.delta", **where, delta=call.args),
            ]
            end = [event("response.output_item.done", output_index=0, item=item)]
        else:
            empty = {**part, "text": ""}
            events += [
                event(
                    "response.output_item.added",
                    output_index=0,
                    item={**item, "status": "in_progress", "content": []},
                ),
                event("response.content_part.added", **where, content_index=0, part=empty),
                *[
                    event("response.output_text.delta", **where, content_index=0, delta=chunk)
                    for chunk in _chunks(text or "")
                ],
            ]
            end = [
                event("response.output_text.done", **where, content_index=0, text=text or ""),
                event("response.content_part.done", **where, content_index=0, part=part),
                event("response.output_item.done", output_index=0, item=item),
            ]
        end.append(event("response.completed", response=done))
        return _Answer(stream=_with_pause(events[:-1], [events[-1], *end], delay))


def apply_patch_text(path: str, content: str) -> str:
    """Codex's apply_patch input that leaves ``path`` holding ``content``.

    A new (or empty) file gets ``*** Add File``; an existing one an ``*** Update File`` hunk
    that removes every old line and adds the new ones, read from disk when the call is made.
    """
    new = [f"+{line}" for line in content.splitlines()]
    target = Path(path)
    old_text = target.read_text() if target.is_file() else ""
    if old_text:
        old = [f"-{line}" for line in old_text.splitlines()]
        hunk = [f"*** Update File: {path}", "@@", *old, *new]
    else:
        hunk = [f"*** Add File: {path}", *new]
    return "\n".join(["*** Begin Patch", *hunk, "*** End Patch"]) + "\n"


# -- Gemini ----------------------------------------------------------------------------------

_GEMINI_GENERATE = ("generateContent", "streamGenerateContent")


class _GeminiWire(_Wire):
    api = "gemini"

    def __init__(self, model: str, *, streaming: bool) -> None:
        self.model = model
        self.streaming = streaming

    @staticmethod
    def _contents(body: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
        return [
            (str(c.get("role", "")), [p for p in c.get("parts") or [] if isinstance(p, dict)])
            for c in body.get("contents") or []
            if isinstance(c, dict)
        ]

    def prompt(self, body: Mapping[str, Any]) -> str | None:
        """The last prompt text: Gemini appends a prompt to the previous user content when
        the turn in between was cancelled, so only the last text part is the new prompt."""
        for role, parts in reversed(self._contents(body)):
            if role == "user" and (
                texts := _prompt_texts([str(p["text"]) for p in parts if "text" in p])
            ):
                return texts[-1]
        return None

    def schema(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        config = body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        return schema if isinstance(schema, Mapping) else None

    def results(self, body: Mapping[str, Any]) -> dict[str, tuple[bool, str]]:
        found = {}
        for _, parts in self._contents(body):
            for part in parts:
                if isinstance(answer := part.get("functionResponse"), dict):
                    response = answer.get("response") or {}
                    ok = "error" not in response
                    found[str(answer.get("id"))] = (ok, json.dumps(response))
        return found

    def ends_with_result(self, body: Mapping[str, Any]) -> bool:
        contents = self._contents(body)
        if not contents or contents[-1][0] != "user":
            return False
        parts = contents[-1][1]
        texts = _prompt_texts([str(p["text"]) for p in parts if "text" in p])
        return any("functionResponse" in p for p in parts) and not texts

    def write_calls(self, turn: WriteFile) -> list[_Call]:
        args = {"file_path": turn.path, "content": turn.content}
        return [_Call(_new_id("write_file_fake"), "write_file", args, turn.path)]

    def answer(
        self,
        body: Mapping[str, Any],
        *,
        text: str | None = None,
        call: _Call | None = None,
        delay: float = 0.0,
    ) -> _Answer:
        usage = {
            "promptTokenCount": _rough_tokens(body),
            "candidatesTokenCount": 5,
            "totalTokenCount": _rough_tokens(body) + 5,
        }

        def chunk(parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            if final:
                candidate["finishReason"] = "STOP"
            return {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": self.model,
                "responseId": _new_id("fake"),
            }

        pieces: list[list[dict[str, Any]]]
        if call is not None:
            pieces = [[{"functionCall": {"id": call.id, "name": call.name, "args": call.args}}]]
        else:
            pieces = [[{"text": t}] for t in _chunks(text or "")]
        if not self.streaming:
            parts = [{"text": text or ""}] if call is None else pieces[0]
            return _Answer(json_body=chunk(parts, final=True))
        events = [_sse(None, chunk(p, final=i == len(pieces) - 1)) for i, p in enumerate(pieces)]
        return _Answer(stream=_with_pause(events[:-1], events[-1:], delay))


_ANTHROPIC = _AnthropicWire()
_OPENAI = _OpenAIWire()
