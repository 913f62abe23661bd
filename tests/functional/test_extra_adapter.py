"""Adding a CLI with hooks takes one adapter module and one YAML profile, nothing in coder-tui.

The adapter is ``tests/extra_adapter.py`` (registered from the test tree, not a built-in), the
profile a YAML file written here that names it in ``hooks:``; the CLI is the real fake agent in
a real PTY, whose hooks run the real ``coder-tui hook`` in another process. The agent's status
and turn ends then come from that adapter's reading of the hooks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from coder_tui.core.agents.agent import Agent
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentStatus,
    PromptAccepted,
    Source,
    StatusChanged,
    TurnEnded,
)
from coder_tui.core.agents.launch import prepare_launch
from coder_tui.core.agents.profile import builtin_profile_files, load_profiles
from coder_tui.core.agents.team import had_prompt
from tests import extra_adapter
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def write_profile(project: Path, script: Path) -> None:
    """The built-in fake agent's YAML under another name, with ``hooks:`` naming the adapter
    from the test tree. Its environment lets the hook process import that adapter's module."""
    (fake,) = [path for path in builtin_profile_files() if path.name == "fake.yaml"]
    data = yaml.safe_load(fake.read_text(encoding="utf-8"))
    data["name"] = "relay"
    data["hooks"] = extra_adapter.NAME
    data["args"] = [*data["args"], "--script", str(script)]
    data["env"] = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    }
    folder = project / "agents"
    folder.mkdir(parents=True)
    (folder / "relay.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


async def test_an_agent_with_an_adapter_from_the_test_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))
    script = tmp_path / "script.yaml"
    script.write_text(
        'rules:\n  - match: weather\n    reply: "Sunny.\\n  Warm: 25°C"\n    delay: 0.3\n'
    )
    project = tmp_path / "project" / ".coder-tui"
    write_profile(project, script)
    profile = load_profiles(project=project)["relay"]
    assert profile.adapter is extra_adapter.ADAPTER
    work = tmp_path / "work"
    work.mkdir()
    agent_dir = tmp_path / "run" / "relay1"
    spec = prepare_launch(profile, agent="relay1", cwd=work, agent_dir=agent_dir)
    assert "relay1: hooks by fake-transcript from the test tree" in spec.notes
    agent = Agent("relay1", profile, spec, cols=100, rows=30)
    events: list[AgentEvent] = []
    agent.subscribe(events.append)
    await agent.start()
    try:
        await agent.wait_for_status(AgentStatus.IDLE, within=15)
        assert not had_prompt(spec.events_file)  # only its start hook so far
        proof = (await agent.deliver("What is the weather?")).proof
        assert proof.how == "prompt hook"
        await wait_for(lambda: any(isinstance(e, TurnEnded) for e in events), 15)
        (turn,) = [e for e in events if isinstance(e, TurnEnded)]
        assert (turn.reply, turn.source) == ("Sunny.\n  Warm: 25°C", Source.HOOK)
        (accepted,) = [e for e in events if isinstance(e, PromptAccepted)]
        assert (accepted.prompt, accepted.source) == ("What is the weather?", Source.HOOK)
        changes = [(e.new, e.source) for e in events if isinstance(e, StatusChanged)]
        assert changes[1:] == [(AgentStatus.WORKING, Source.HOOK), (AgentStatus.IDLE, Source.HOOK)]
        # The hook process knew the adapter (its module imported there): nothing was refused.
        records = [json.loads(line) for line in spec.events_file.read_text().splitlines()]
        assert {r["kind"] for r in records} == {extra_adapter.NAME}
        assert [r["event"] for r in records] == ["SessionStart", "UserPromptSubmit", "Stop"]
        assert not [r for r in records if "error" in r]
        assert had_prompt(spec.events_file)
    finally:
        await agent.stop()
