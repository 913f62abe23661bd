"""Proof that the e2e fixtures work: the fake model server and refusing proxy on their own, then
the real Claude Code, Codex and Gemini CLIs, non-interactive, talking to them.

If a CLI update changes its wire protocol, these tests are the ones that say so first.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.clis import cli_path
from tests.e2e.fake_model import (
    NO_SCRIPT_TEXT,
    Api,
    FakeModelServer,
    Reply,
    WriteFile,
    apply_patch_text,
    json_for_schema,
)
from tests.e2e.homes import Cli, base_env, cli_home
from tests.e2e.proxy import CODEX_TIP_HOST, RefusingProxy

CLI_TIMEOUT = 30.0


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


@pytest.fixture
def proxy() -> Iterator[RefusingProxy]:
    with RefusingProxy(allowed={CODEX_TIP_HOST}) as refusing:
        yield refusing


# -- the fixtures on their own (no CLI needed) -----------------------------------------------


def _post(server: FakeModelServer, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _sse_data(raw: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(line.removeprefix(b"data: "))
        for line in raw.splitlines()
        if line.startswith(b"data: ")
    ]


def test_reply_streams_in_chunks_and_pauses_before_the_last(server: FakeModelServer) -> None:
    server.script("anthropic", Reply("Hello there, streaming world", delay=0.3))
    body = {
        "model": "m",
        "stream": True,
        "tools": [{"name": "Write"}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    started = time.monotonic()
    status, raw = _post(server, "/v1/messages?beta=true", body)
    assert status == 200
    assert time.monotonic() - started >= 0.3
    events = _sse_data(raw)
    deltas = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert len(deltas) > 1
    assert "".join(deltas) == "Hello there, streaming world"
    assert events[-1]["type"] == "message_stop"
    assert server.user_texts("anthropic") == ["hi"]


def test_empty_script_answers_a_marker_and_records_an_error(server: FakeModelServer) -> None:
    body = {
        "model": "gpt",
        "stream": True,
        "tools": [{"type": "function"}],
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}],
    }
    status, raw = _post(server, "/v1/responses", body)
    assert status == 200
    deltas = [e["delta"] for e in _sse_data(raw) if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == NO_SCRIPT_TEXT
    assert len(server.errors) == 1
    assert "hello" in server.errors[0]


def test_schema_side_calls_get_fitting_json_and_leave_the_script(server: FakeModelServer) -> None:
    server.script("gemini", Reply("main"))
    schema = {
        "type": "OBJECT",
        "properties": {
            "model_choice": {"type": "STRING", "enum": ["flash", "pro"]},
            "reasoning": {"type": "STRING"},
        },
    }
    body = {
        "contents": [{"role": "user", "parts": [{"text": "route me"}]}],
        "generationConfig": {"responseJsonSchema": schema},
    }
    status, raw = _post(server, "/v1beta/models/flash-lite:generateContent", body)
    assert status == 200
    text = json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"]
    assert json.loads(text) == {"model_choice": "flash", "reasoning": "fake reasoning"}
    assert server.remaining("gemini") == [Reply("main")]
    assert [r.kind for r in server.requests] == ["schema"]
    assert server.side_calls("gemini")[0].is_side_call


def test_json_for_schema_follows_refs_unions_and_lengths() -> None:
    schema = {
        "$defs": {"Title": {"type": "string", "maxLength": 5}},
        "type": "object",
        "properties": {
            "title": {"$ref": "#/$defs/Title"},
            "count": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3}]},
            "tags": {"type": "array", "items": {"const": "x"}, "minItems": 2},
            "done": {"type": ["boolean", "null"]},
        },
    }
    assert json_for_schema(schema) == {
        "title": "Fake ",
        "count": 3,
        "tags": ["x", "x"],
        "done": False,
    }


def test_apply_patch_text_adds_new_files_and_replaces_existing_ones(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    add = apply_patch_text(str(target), "a\nb\n")
    assert add == f"*** Begin Patch\n*** Add File: {target}\n+a\n+b\n*** End Patch\n"
    target.write_text("old\n")
    update = apply_patch_text(str(target), "new\n")
    assert update == f"*** Begin Patch\n*** Update File: {target}\n@@\n-old\n+new\n*** End Patch\n"


def test_proxy_refuses_and_records_every_attempt(proxy: RefusingProxy) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    for method, target in [
        ("CONNECT", "example.com:443"),
        ("CONNECT", f"{CODEX_TIP_HOST}:443"),
        ("GET", "http://plain.example/x"),
    ]:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request(method, target)
            assert conn.getresponse().status == 403
        finally:
            conn.close()
    assert proxy.hosts() == ["example.com:443", f"{CODEX_TIP_HOST}:443", "plain.example:80"]
    assert [a.host for a in proxy.violations()] == ["example.com", "plain.example"]


# -- the real CLIs, non-interactive ----------------------------------------------------------


@dataclass(frozen=True)
class CliCase:
    """How to run one CLI headless and read its final answer from stdout."""

    cli: Cli
    api: Api
    command: Callable[[Path, str, bool], list[str]]
    final_text: Callable[[str], str]


def _claude_command(exe: Path, prompt: str, write: bool) -> list[str]:
    mode = ["--permission-mode", "acceptEdits"] if write else []
    return [str(exe), "-p", prompt, "--output-format", "stream-json", "--verbose", *mode]


def _claude_text(stdout: str) -> str:
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return str(next(e for e in reversed(events) if e.get("type") == "result")["result"])


def _codex_command(exe: Path, prompt: str, write: bool) -> list[str]:
    # codex 0.169 has no --full-auto: workspace-write lets apply_patch edit the project.
    sandbox = ["--sandbox", "workspace-write"] if write else []
    return [str(exe), "exec", "--json", "--skip-git-repo-check", *sandbox, prompt]


def _codex_text(stdout: str) -> str:
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    messages = [
        e["item"]["text"]
        for e in events
        if e.get("type") == "item.completed" and e["item"].get("type") == "agent_message"
    ]
    return str(messages[-1])


def _gemini_command(exe: Path, prompt: str, write: bool) -> list[str]:
    # Headless Gemini exits 55 in an untrusted folder; --skip-trust trusts it for this run.
    mode = ["--approval-mode", "auto_edit"] if write else []
    return [str(exe), "--skip-trust", "-p", prompt, "--output-format", "json", *mode]


def _gemini_text(stdout: str) -> str:
    return str(json.loads(stdout)["response"])


CASES = [
    CliCase("claude", "anthropic", _claude_command, _claude_text),
    CliCase("codex", "openai", _codex_command, _codex_text),
    CliCase("gemini", "gemini", _gemini_command, _gemini_text),
]


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a CLI to completion with no terminal and no stdin; fail with its output if it fails."""
    result = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{command[0]} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result


def _setup(
    case: CliCase, tmp_path: Path, server: FakeModelServer, proxy: RefusingProxy
) -> tuple[Path, Path, dict[str, str]]:
    exe = cli_path(case.cli)
    project = tmp_path / "project"
    project.mkdir()
    env = {
        **base_env(),
        **cli_home(case.cli, tmp_path / "home", server.url, project, proxy_url=proxy.url),
    }
    return exe, project, env


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.cli for c in CASES])
def test_cli_gets_its_scripted_reply(
    case: CliCase, tmp_path: Path, server: FakeModelServer, proxy: RefusingProxy
) -> None:
    exe, project, env = _setup(case, tmp_path, server, proxy)
    prompt = f"Say hello to the {case.cli} e2e test"
    server.script(case.api, Reply(f"Hello from the fake {case.api} model!"))

    result = _run(case.command(exe, prompt, False), env, project)

    assert case.final_text(result.stdout) == f"Hello from the fake {case.api} model!"
    assert len(server.main_requests(case.api)) == 1, server.requests
    assert server.user_texts(case.api) == [prompt]
    assert server.errors == []
    assert server.remaining(case.api) == []
    assert proxy.violations() == [], proxy.hosts()


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "existing-file"])
@pytest.mark.parametrize("case", CASES, ids=[c.cli for c in CASES])
def test_cli_writes_a_file_with_its_own_tool(
    case: CliCase,
    existing: bool,
    tmp_path: Path,
    server: FakeModelServer,
    proxy: RefusingProxy,
) -> None:
    exe, project, env = _setup(case, tmp_path, server, proxy)
    target = project / "notes" / "hello.txt" if not existing else project / "hello.txt"
    if existing:
        target.write_text("old first line\nold second line\n")
    content = "first line\n  indented second line\n"
    server.script(case.api, WriteFile(str(target), content, then="File written."))

    result = _run(case.command(exe, "Write the hello file", True), env, project)

    assert target.read_text() == content
    assert case.final_text(result.stdout) == "File written."
    outcomes = server.tool_outcomes(case.api)
    assert outcomes, server.requests
    assert all(o.succeeded for o in outcomes), outcomes
    assert outcomes[-1].path == str(target)
    assert server.user_texts(case.api) == ["Write the hello file"]
    assert [r.kind for r in server.main_requests(case.api)][-1] == "tool_result"
    assert server.errors == []
    assert proxy.violations() == [], proxy.hosts()


@pytest.mark.slow
def test_headless_gemini_needs_the_folder_trusted(
    tmp_path: Path, server: FakeModelServer, proxy: RefusingProxy
) -> None:
    """Folder trust stays on in gemini_home: headless runs refuse until trust is given."""
    exe = cli_path("gemini")
    project = tmp_path / "project"
    project.mkdir()
    env = {
        **base_env(),
        **cli_home("gemini", tmp_path / "home", server.url, project, proxy_url=proxy.url),
    }
    refused = subprocess.run(
        [str(exe), "-p", "hi", "--output-format", "json"],
        env=env,
        cwd=project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert refused.returncode == 55, refused.stderr
    assert "trusted directory" in refused.stderr
    assert server.requests == []

    trusted = {
        **base_env(),
        **cli_home(
            "gemini", tmp_path / "home", server.url, project, proxy_url=proxy.url, trust_folder=True
        ),
    }
    server.script("gemini", Reply("trusted now"))
    result = _run([str(exe), "-p", "hi", "--output-format", "json"], trusted, project)
    assert _gemini_text(result.stdout) == "trusted now"
    assert proxy.violations() == [], proxy.hosts()
