"""What the user chose for each agent at launch survives a stop and ``resume``: a headless run
started with --skip-approvals must not come back asking approvals that nobody can answer, and
its --policy choices hold too. The fake agent runs in real PTYs."""

from __future__ import annotations

import json
from pathlib import Path

from coder_tui.core.agents.events import ApprovalPolicy
from coder_tui.core.agents.profile import load_profiles
from coder_tui.core.agents.team import AgentRequest
from coder_tui.core.host import HostOptions, RunHost
from coder_tui.core.runs import RunStatus, RunStore

SKIP = ["--approval-mode", "auto"]  # the fake profile's skip_approval_args
ASK = ["--approval-mode", "ask"]  # and its ask_approval_args


def has(argv: list[str], flags: list[str]) -> bool:
    return any(argv[i : i + len(flags)] == flags for i in range(len(argv)))


async def test_resume_relaunches_with_the_skip_flag_and_the_policy(tmp_path: Path) -> None:
    profiles = load_profiles()
    requests = [
        AgentRequest("fixer", "fake", ApprovalPolicy.APPROVE_EDITS, skip_approval=True),
        AgentRequest("rev", "fake", ApprovalPolicy.APPROVE_ALL),
    ]
    work = tmp_path / "work"
    work.mkdir()
    options = HostOptions(startup_timeout=30)
    host = RunHost.new(tmp_path / "runs", work, requests, profiles, options=options)
    assert host.agents["fixer"].spec.approvals_skipped
    assert await host.run() is None  # a session: the agents started and were ready
    for agent in host.agents.values():  # a CLI keeps a session (to resume) once prompted
        assert (await (await agent.deliver("hello")).reply(within=15)) == "echo: hello"
    await host.stop()
    run_dir = host.store.run_dir
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["status"] == RunStatus.PAUSED and saved["pid"] == 0

    again = RunHost.resumed(RunStore.open(run_dir), profiles, None, options=options)
    try:
        fixer, rev = again.agents["fixer"], again.agents["rev"]
        assert fixer.spec.approvals_skipped and has(fixer.spec.argv, SKIP)
        assert not has(fixer.spec.argv, ASK)
        assert fixer.policy is ApprovalPolicy.APPROVE_EDITS
        assert not rev.spec.approvals_skipped and has(rev.spec.argv, ASK)
        assert not has(rev.spec.argv, SKIP)
        assert rev.policy is ApprovalPolicy.APPROVE_ALL
        # Each went back to its own CLI session, and the resumed run records the skip again.
        for agent in (fixer, rev):
            argv = agent.spec.argv
            assert argv[argv.index("--resume") + 1] == saved["agents"][agent.name]["session_id"]
        assert saved["agents"]["fixer"]["skip_approval"] is True  # in the stopped run.json
        assert saved["agents"]["rev"]["skip_approval"] is False
        assert again.state.agents["fixer"].skip_approval is True
        assert again.requests["fixer"].skip_approval and not again.requests["rev"].skip_approval
        # A restart (a new CLI session) keeps the skip as well.
        assert await again.run() is None
        restarted = await again.restart("fixer")
        assert restarted.spec.approvals_skipped and has(restarted.spec.argv, SKIP)
    finally:
        await again.stop()
