"""The adapters: each CLI's hook payloads mapped onto the agent layer's few events, the registry
a profile's ``hooks:`` names an adapter in, and the hook command taking its kinds from it.

The payloads below have the fields each CLI sends (the e2e tier runs the real CLIs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coder_tui import paths
from coder_tui.core.agents.adapters import (
    NO_HOOKS,
    CliAdapter,
    HookEventKind,
    HookInstall,
    HookRecord,
    LaunchContext,
    NormalizedHookEvent,
    UnknownAdapterError,
    adapter_for,
    adapter_names,
    hook_command,
    register_adapter,
    registry,
)
from coder_tui.core.agents.profile import load_profiles
from coder_tui.core.yamlfile import ConfigError
from tests import extra_adapter

K = HookEventKind
ROOT = Path(__file__).resolve().parents[2]


def record(kind: str, event: str, **payload: Any) -> dict[str, Any]:
    return {"ts": 1.0, "agent": "a", "kind": kind, "event": event, "payload": payload}


def normalize(kind: str, event: str, **payload: Any) -> NormalizedHookEvent | None:
    return adapter_for(kind).normalize(record(kind, event, **payload))


WRAPPED = '\n\n<pasted_content id="7">\nthe paste\n</pasted_content id="7">\n'


@pytest.mark.parametrize(
    ("kind", "event", "payload", "expected"),
    [
        ("claude", "SessionStart", {"session_id": "s1"}, {"kind": K.SESSION_STARTED}),
        ("claude", "UserPromptSubmit", {"prompt": "go" + WRAPPED}, {"prompt": "gothe paste"}),
        ("claude", "Stop", {"last_assistant_message": "done"}, {"reply": "done"}),
        ("claude", "Stop", {}, {"kind": K.TURN_ENDED, "reply": None}),  # read off the screen
        (
            "claude",
            "PreToolUse",
            {"tool_name": "Write", "tool_input": {"file_path": "x"}},
            {"kind": K.TOOL_STARTING, "tool": "Write", "tool_input": {"file_path": "x"}},
        ),
        (
            "claude",
            "Notification",
            {"notification_type": "permission_prompt", "message": "needs Write"},
            {"kind": K.APPROVAL_REQUESTED, "detail": "needs Write", "tool": ""},
        ),
        ("claude", "Notification", {"notification_type": "idle_prompt"}, {"kind": K.OTHER}),
        ("fake", "Stop", {"last_assistant_message": "echo: hi"}, {"reply": "echo: hi"}),
        ("fake", "UserPromptSubmit", {"prompt": "hi"}, {"kind": K.PROMPT_ACCEPTED}),
        ("codex", "UserPromptSubmit", {"prompt": "p", "session_id": "t1"}, {"session_id": "t1"}),
        (
            "codex",
            "Stop",
            {"turn_id": "u1", "last_assistant_message": "ok"},
            {"kind": K.TURN_ENDED, "reply": "ok", "turn_id": "u1", "thread_id": ""},
        ),
        (
            "codex",
            "agent-turn-complete",
            {
                "type": "agent-turn-complete",
                "thread-id": "t1",
                "turn-id": "u1",
                "last-assistant-message": "ok",
            },
            {"kind": K.TURN_ENDED, "reply": "ok", "turn_id": "u1", "thread_id": "t1"},
        ),
        (
            "codex",
            "PermissionRequest",
            {"tool_name": "apply_patch", "tool_input": {"command": "*** Begin Patch"}},
            {"kind": K.APPROVAL_REQUESTED, "tool": "apply_patch", "detail": "apply_patch"},
        ),
        ("codex", "PostToolUse", {"tool_name": "apply_patch"}, {"kind": K.TOOL_FINISHED}),
        ("codex", "Interrupt", {"turn_id": "u2"}, {"kind": K.TURN_INTERRUPTED, "turn_id": "u2"}),
        ("codex", "SessionEnd", {"session_id": "t1"}, {"kind": K.OTHER, "session_id": "t1"}),
        ("gemini", "BeforeAgent", {"prompt": "p"}, {"kind": K.PROMPT_ACCEPTED, "prompt": "p"}),
        ("gemini", "AfterAgent", {"prompt_response": "r"}, {"kind": K.TURN_ENDED, "reply": "r"}),
        (
            "gemini",
            "BeforeTool",
            {"tool_name": "write_file", "tool_input": {"file_path": "x"}},
            {"kind": K.TOOL_STARTING, "tool": "write_file"},
        ),
        (
            "gemini",
            "Notification",
            {"notification_type": "ToolPermission", "message": "Apply?"},
            {"kind": K.APPROVAL_REQUESTED, "detail": "Apply?"},
        ),
        # Another CLI's names mean nothing to an adapter.
        ("gemini", "Stop", {"last_assistant_message": "x"}, {"kind": K.OTHER}),
        ("claude", "AfterAgent", {"prompt_response": "x"}, {"kind": K.OTHER}),
    ],
)
def test_each_clis_hooks_map_to_the_agent_layers_events(
    kind: str, event: str, payload: dict[str, Any], expected: dict[str, Any]
) -> None:
    normalized = normalize(kind, event, **payload)
    assert normalized is not None
    assert normalized.name == event
    assert {field: getattr(normalized, field) for field in expected} == expected


def test_every_payload_carries_its_session_and_permission_mode() -> None:
    event = normalize("claude", "PreToolUse", session_id="s", permission_mode="acceptEdits")
    assert event is not None and (event.session_id, event.permission_mode) == ("s", "acceptEdits")
    event = normalize("fake", "Stop", permission_mode=3)  # not a mode: not reported
    assert event is not None and event.permission_mode is None


def test_a_record_without_a_payload_object_is_no_event() -> None:
    for kind in ("claude", "codex", "gemini", "fake"):
        broken = {"kind": kind, "event": "unknown", "payload": ["not", "an", "object"]}
        assert adapter_for(kind).normalize(broken) is None


def test_gemini_reads_the_reply_from_its_transcript_first(tmp_path: Path) -> None:
    transcript = tmp_path / "session.jsonl"
    transcript.write_text(
        json.dumps({"type": "user", "content": "p"})
        + "\n"
        + json.dumps({"type": "gemini", "content": "exact reply"})
        + "\n"
    )
    repeated = "exact exact reply"  # what prompt_response holds after a chunked stream
    event = normalize(
        "gemini", "AfterAgent", transcript_path=str(transcript), prompt_response=repeated
    )
    assert event is not None and event.reply == "exact reply"
    missing = str(tmp_path / "missing.jsonl")
    event = normalize("gemini", "AfterAgent", transcript_path=missing, prompt_response=repeated)
    assert event is not None and event.reply == repeated


def test_the_built_in_profiles_name_built_in_adapters() -> None:
    assert {"claude", "codex", "fake", "gemini"} <= set(adapter_names())
    profiles = load_profiles()
    for name in ("claude", "codex", "gemini", "fake"):
        adapter = profiles[name].adapter
        assert adapter is not None and adapter.name == name
    assert profiles["generic"].hooks == NO_HOOKS and profiles["generic"].adapter is None


def test_a_profile_naming_no_adapter_is_refused_with_the_known_ones() -> None:
    folder = paths.config_dir() / "agents"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text("name: mine\ncommand: [x]\nhooks: aider\n")
    with pytest.raises(ConfigError) as caught:
        load_profiles()
    text = str(caught.value)
    assert f"{folder / 'mine.yaml'}:3: hooks: " in text
    assert "no agent CLI adapter 'aider' (known: none, claude, codex" in text
    with pytest.raises(UnknownAdapterError, match="known: claude, codex"):
        adapter_for("aider")


def test_a_name_is_claimed_by_one_adapter_only() -> None:
    class Impostor(CliAdapter):
        name = "claude"

        def install(self, launch: LaunchContext) -> HookInstall:
            return HookInstall()

        def normalize(self, record: HookRecord) -> NormalizedHookEvent | None:
            return None

    with pytest.raises(ValueError, match="already registered"):
        register_adapter(Impostor())
    assert type(adapter_for("claude")).__name__ == "ClaudeAdapter"
    with pytest.raises(ValueError, match="cannot be named"):
        Impostor.name = NO_HOOKS
        register_adapter(Impostor())


def run_hook(*args: str, payload: str = "{}") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "coder_tui.hook", *args],
        input=payload,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_the_hook_command_names_an_adapter_from_elsewhere_by_its_module(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    builtin = hook_command(events, "a", "gemini")
    assert "--adapter-module" not in builtin and builtin[-2:] == ["--kind", "gemini"]
    command = hook_command(events, "a", extra_adapter.NAME)
    assert command[-2:] == ["--adapter-module", "tests.extra_adapter"]
    done = run_hook(*command[3:], payload='{"hook_event_name": "Stop"}')
    assert (done.returncode, done.stdout) == (0, "")
    (line,) = events.read_text().splitlines()
    assert json.loads(line)["kind"] == extra_adapter.NAME and "error" not in json.loads(line)


def test_an_adapter_defined_in_a_script_is_refused_a_hook_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook process could never import it: better said at launch than by every hook."""

    class Scripted(extra_adapter.TranscriptFakeAdapter):
        name = "scripted"

    Scripted.__module__ = "__main__"
    monkeypatch.setitem(registry._adapters, "scripted", Scripted())
    with pytest.raises(ValueError, match="defined in a script"):
        hook_command(tmp_path / "events.jsonl", "a", "scripted")


def test_the_hook_takes_only_registered_kinds_and_prints_what_the_cli_wants(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    refused = run_hook("--events", str(events), "--agent", "a", "--kind", "aider")
    assert refused.returncode == 1 and "no adapter 'aider'" in refused.stderr
    assert not events.exists()
    gemini = run_hook("--events", str(events), "--agent", "a", "--kind", "gemini")
    assert (gemini.returncode, gemini.stdout) == (0, "{}")  # Gemini parses it as JSON


def test_an_adapter_module_the_hook_cannot_import_still_gets_its_event_recorded(
    tmp_path: Path,
) -> None:
    """The CLI must never see a failing hook, and coder-tui, which knows the adapter, can read
    the event all the same."""
    events = tmp_path / "events.jsonl"
    args = ["--events", str(events), "--agent", "a", "--kind", "mine"]
    done = run_hook(*args, "--adapter-module", "no_such_module_here", payload='{"type": "x"}')
    assert done.returncode == 0
    (line,) = events.read_text().splitlines()
    recorded = json.loads(line)
    assert recorded["kind"] == "mine" and recorded["payload"] == {"type": "x"}
    assert "adapter module no_such_module_here: ModuleNotFoundError" in recorded["error"]


def test_the_hook_process_stays_light() -> None:
    """It runs for every event inside the CLI's turn: no pydantic, no YAML, no profiles."""
    probe = (
        "import sys, coder_tui.hook\n"
        "from coder_tui.core.agents.adapters import adapter_names\n"
        "adapter_names()\n"
        "heavy = {'pydantic', 'yaml', 'coder_tui.core.agents.profile', 'watchfiles'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "[]", done.stderr
