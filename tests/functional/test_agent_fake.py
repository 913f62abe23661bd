"""The agent layer driving coder-tui's fake agent in a real PTY: status, delivery, replies.

Each test runs in hook mode (the fake agent calls `coder-tui hook` like Claude Code would)
and, where it matters, in screen-only mode (a profile without hooks), because both must work.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from coder_tui.core.agents.adapters import NO_HOOKS
from coder_tui.core.agents.agent import Agent, DeliveryError
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentStatus,
    AgentWarning,
    ApprovalAnswered,
    ApprovalPolicy,
    PromptAccepted,
    Source,
    StatusChanged,
    TurnEnded,
)
from coder_tui.core.agents.launch import hook_command, prepare_launch
from coder_tui.core.agents.profile import AgentProfile, load_profiles
from tests.conftest import wait_for

SCRIPTS = Path(__file__).resolve().parent.parent / "fake_agent_scripts"


def fake_profile(hooks: bool = True, **changes: object) -> AgentProfile:
    profile = load_profiles()["fake"]
    if not hooks:
        changes["hooks"] = NO_HOOKS
    return profile.model_copy(update=changes)


async def start_agent(
    tmp_path: Path,
    *,
    hooks: bool = True,
    script: str | None = None,
    name: str = "fake1",
    extra: list[str] | None = None,
    **changes: object,
) -> tuple[Agent, list[AgentEvent]]:
    profile = fake_profile(hooks, **changes)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    args = list(extra or [])
    if script is not None:
        path = tmp_path / f"{name}-script.yaml"
        path.write_text(script)
        args += ["--script", str(path)]
    spec = prepare_launch(
        profile, agent=name, cwd=work, agent_dir=tmp_path / "run" / name, extra_args=args
    )
    agent = Agent(name, profile, spec, cols=100, rows=30)
    events: list[AgentEvent] = []
    agent.subscribe(events.append)
    await agent.start()
    return agent, events


@pytest.fixture
def fake_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "screen-only"])
async def test_starting_idle_working_idle_and_exact_reply(
    tmp_path: Path, fake_state: None, hooks: bool
) -> None:
    script = 'rules:\n  - match: weather\n    reply: "Sunny.\\nLine two: 100%"\n    delay: 0.5\n'
    agent, events = await start_agent(tmp_path, hooks=hooks, script=script)
    try:
        assert agent.status is AgentStatus.STARTING
        await agent.wait_for_status(AgentStatus.IDLE, within=15)
        proof = (await agent.deliver("What is the weather?")).proof
        assert proof.enter_presses == 1
        assert proof.how == ("prompt hook" if hooks else proof.how)
        turn = await wait_turn(events, 1)
        assert turn.reply == "Sunny.\nLine two: 100%"
        assert turn.source is (Source.HOOK if hooks else Source.QUIESCENCE)
        statuses = [e.new for e in events if isinstance(e, StatusChanged)]
        assert statuses[:3] == [AgentStatus.IDLE, AgentStatus.WORKING, AgentStatus.IDLE]
        assert agent.status is AgentStatus.IDLE
        # The session id chosen at launch is recorded for resume.
        record = json.loads(agent.launch_record.read_text())
        assert record["session_id"] == agent.session_id and agent.session_id
        assert f"--session-id={agent.session_id}" in "=".join(record["argv"])
    finally:
        await agent.stop()


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "screen-only"])
async def test_multiline_paste_is_submitted_once_and_exactly(
    tmp_path: Path, fake_state: None, hooks: bool
) -> None:
    text = "first line\n  indented ☃ 中文\n> looks like a prompt\nlast line"
    if hooks:  # a raw ESC can only come back exactly through a hook, never through a screen
        text += "\n\x1b[31m not a colour"
    agent, events = await start_agent(tmp_path, hooks=hooks)
    try:
        await agent.deliver(text)
        turn = await wait_turn(events, 1)
        assert turn.reply == f"echo: {text}"
        accepted = [e for e in events if isinstance(e, PromptAccepted)]
        assert len(accepted) == 1
        assert accepted[0].prompt == text
        transcript = read_transcript(tmp_path, agent)
        assert [line["text"] for line in transcript if line["role"] == "user"] == [text]
    finally:
        await agent.stop()


async def test_enter_dropped_after_paste_is_resent_alone(tmp_path: Path, fake_state: None) -> None:
    # The agent ignores an Enter within 400 ms of a paste (as Claude does within ~50 ms) and
    # our pause is shorter: delivery must re-send Enter alone and submit exactly once.
    agent, events = await start_agent(
        tmp_path,
        extra=["--paste-enter-guard", "400", "--paste-enter-mode", "drop"],
        submit_proof_timeout=0.3,
    )
    try:
        proof = (await agent.deliver("guarded prompt")).proof
        assert proof.enter_presses >= 2
        await wait_turn(events, 1)
        transcript = read_transcript(tmp_path, agent)
        assert [line["text"] for line in transcript if line["role"] == "user"] == ["guarded prompt"]
    finally:
        await agent.stop()


async def test_deliveries_are_serialised(tmp_path: Path, fake_state: None) -> None:
    script = "rules:\n  - reply: 'done {prompt}'\n    delay: 0.3\n"
    agent, events = await start_agent(tmp_path, script=script)
    try:
        await asyncio.gather(*(agent.deliver(f"task {n}") for n in range(3)))
        await wait_turn(events, 3)
        replies = [e.reply for e in events if isinstance(e, TurnEnded)]
        assert sorted(replies) == ["done task 0", "done task 1", "done task 2"]
        transcript = read_transcript(tmp_path, agent)
        assert len([line for line in transcript if line["role"] == "user"]) == 3
    finally:
        await agent.stop()


async def test_crash_mid_turn_is_reported_quickly_and_not_left_working(
    tmp_path: Path, fake_state: None
) -> None:
    script = "rules:\n  - match: boom\n    crash: 7\n    delay: 0.2\n"
    agent, events = await start_agent(tmp_path, script=script)
    try:
        await agent.deliver("boom")
        await agent.wait_for_status(AgentStatus.EXITED, within=5)
        exited_at = time.time()
        assert agent.exit is not None and agent.exit.exit_code == 7
        last = [e for e in events if isinstance(e, StatusChanged)][-1]
        assert last.new is AgentStatus.EXITED and last.at - exited_at < 1.0
        with pytest.raises(DeliveryError, match="exited"):
            await agent.deliver("anyone there?")
    finally:
        await agent.stop()


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "screen-only"])
async def test_approval_is_detected_and_answered(
    tmp_path: Path, fake_state: None, hooks: bool
) -> None:
    script = (
        "rules:\n"
        '  - match: create\n    write: {path: made.txt, content: "yes\\n"}\n    reply: wrote it\n'
        '  - match: other\n    write: {path: denied.txt, content: "no\\n"}\n    reply: tried\n'
    )
    agent, events = await start_agent(tmp_path, hooks=hooks, script=script)
    work = tmp_path / "work"
    try:
        await agent.deliver("please create the file")
        await agent.wait_for_status(AgentStatus.NEEDS_APPROVAL, within=5)
        assert not (work / "made.txt").exists()
        agent.approve()
        turn = await wait_turn(events, 1)
        assert (work / "made.txt").read_text() == "yes\n"
        assert "wrote it" in turn.reply
        await agent.deliver("other file")
        await agent.wait_for_status(AgentStatus.NEEDS_APPROVAL, within=5)
        agent.deny()
        turn = await wait_turn(events, 2)
        assert not (work / "denied.txt").exists()
        assert "Edit denied" in turn.reply
    finally:
        await agent.stop()


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "screen-only"])
async def test_an_approval_key_lost_while_the_prompt_is_drawn_is_typed_again_once(
    tmp_path: Path, fake_state: None, hooks: bool
) -> None:
    """Claude Code drops a key that arrives while it still draws its permission prompt, and
    draws the rest of the prompt after it (seen in CI: the run hung at needs-approval). The
    fake agent does the same with --approval-deaf: the answer is typed again once the screen
    has settled with the prompt still up, and the write happens exactly once."""
    script = (
        "rules:\n"
        '  - match: create\n    write: {path: made.txt, content: "yes\\n"}\n    reply: wrote\n'
        "  - reply: 'prompt was [{prompt}]'\n"
    )
    fake_log = tmp_path / "fake.log"
    agent, events = await start_agent(
        tmp_path,
        hooks=hooks,
        script=script,
        extra=["--approval-deaf", "400", "--log", str(fake_log)],
    )
    try:
        await agent.deliver("please create the file")
        await agent.wait_for_status(AgentStatus.NEEDS_APPROVAL, within=5)
        agent.approve()  # at once: lost, as the prompt's last line is not drawn yet
        turn = await wait_turn(events, 1)
        assert "wrote" in turn.reply
        assert (tmp_path / "work" / "made.txt").read_text() == "yes\n"
        assert "approval answer True lost" in fake_log.read_text()
        await agent.deliver("next")  # a second answer typed too many would be in this prompt
        assert (await wait_turn(events, 2)).reply == "prompt was [next]"
    finally:
        await agent.stop()


async def test_missing_cli_is_reported_with_install_hint(tmp_path: Path) -> None:
    profile = fake_profile(command=["no-such-agent-cli"], install="npm install -g no-such-agent")
    spec = prepare_launch(profile, agent="ghost", cwd=tmp_path, agent_dir=tmp_path / "run")
    agent = Agent("ghost", profile, spec)
    await agent.start()
    assert agent.status is AgentStatus.EXITED
    shown = agent.session.screen.text().replace("\n", "")
    assert "'no-such-agent-cli' is not installed" in shown
    assert "Install it with: npm install -g no-such-agent" in shown


async def test_a_late_turn_end_hook_is_not_a_second_reply(tmp_path: Path, fake_state: None) -> None:
    """A turn-end hook that comes after its turn was already ended from the screen (a hook
    slower than the missed-hook fallback, or none expected after a denial) must not count as
    another turn: the operator would post a second reply to one prompt."""
    agent, events = await start_agent(tmp_path, script="rules:\n  - delay: 0.1\n")
    try:
        await agent.wait_for_status(AgentStatus.IDLE, within=15)
        await agent.deliver("first")
        assert (await wait_turn(events, 1)).reply == "echo: first"
        # The real hook command, as the CLI runs it, with a Stop of no open turn.
        hook = await asyncio.create_subprocess_exec(
            *hook_command(agent.spec.events_file, agent.name, agent.profile.hooks),
            stdin=asyncio.subprocess.PIPE,
        )
        stale = {"hook_event_name": "Stop", "last_assistant_message": "stale"}
        await hook.communicate(json.dumps(stale).encode())
        assert hook.returncode == 0
        await agent.deliver("second")
        assert (await wait_turn(events, 2)).reply == "echo: second"
        turns = [e.reply for e in events if isinstance(e, TurnEnded)]
        assert turns == ["echo: first", "echo: second"]
    finally:
        await agent.stop()


async def wait_turn(events: list[AgentEvent], count: int, within: float = 15.0) -> TurnEnded:
    def turns() -> list[TurnEnded]:
        return [e for e in events if isinstance(e, TurnEnded)]

    await wait_for(
        lambda: len(turns()) >= count,
        within,
        message=lambda: f"only {len(turns())} turns ended: {events}",
    )
    return turns()[count - 1]


def read_transcript(tmp_path: Path, agent: Agent) -> list[dict[str, str]]:
    path = tmp_path / "fake-state" / "sessions" / f"{agent.session_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("policy", "prompt", "auto"),
    [
        (ApprovalPolicy.APPROVE_EDITS, "create it", True),
        (ApprovalPolicy.APPROVE_ALL, "create it", True),
        (ApprovalPolicy.ASK, "create it", False),
    ],
)
async def test_approval_policy_is_applied_and_reported(
    tmp_path: Path, fake_state: None, policy: ApprovalPolicy, prompt: str, auto: bool
) -> None:
    script = (
        "rules:\n  - match: create\n    write: {path: auto.txt, content: ok}\n    reply: done\n"
    )
    agent, events = await start_agent(tmp_path, script=script)
    agent.policy = policy
    try:
        await agent.deliver(prompt)
        if auto:
            turn = await wait_turn(events, 1)
            assert "done" in turn.reply
            assert (tmp_path / "work" / "auto.txt").read_text() == "ok"
            answers = [e for e in events if isinstance(e, ApprovalAnswered)]
            assert [(a.approved, a.by) for a in answers] == [(True, str(policy))]
        else:
            await agent.wait_for_status(AgentStatus.NEEDS_APPROVAL, within=5)
            assert not [e for e in events if isinstance(e, ApprovalAnswered)]
            assert not (tmp_path / "work" / "auto.txt").exists()
    finally:
        await agent.stop()


async def test_hung_turn_is_interrupted_after_the_turn_timeout(
    tmp_path: Path, fake_state: None
) -> None:
    script = "rules:\n  - match: stuck\n    hang: true\n"
    agent, events = await start_agent(tmp_path, script=script, turn_timeout=1.5)
    try:
        await agent.deliver("get stuck")
        started = time.monotonic()
        turn = await wait_turn(events, 1, within=10)
        assert turn.timed_out and turn.source is Source.TIMEOUT
        assert 1.5 <= time.monotonic() - started < 6
        assert agent.status is AgentStatus.IDLE
        # The agent is usable again afterwards.
        await agent.deliver("hello again")
        assert (await wait_turn(events, 2)).reply == "echo: hello again"
    finally:
        await agent.stop()


async def test_ready_by_start_hook_when_no_idle_rule_fits(tmp_path: Path, fake_state: None) -> None:
    """A new CLI version words its idle footer differently: the start hook and a quiet screen
    with the input box make the agent ready, and a warning names the footer no rule matched."""
    rules = load_profiles()["fake"].screen.model_copy(update={"idle": ["^never shown$"]})
    agent, events = await start_agent(tmp_path, screen=rules)
    try:
        await agent.wait_until_ready(15)
        assert agent.status is AgentStatus.IDLE
        warnings = [e.message for e in events if isinstance(e, AgentWarning)]
        assert len(warnings) == 1, warnings
        assert "fits no rule of the 'fake' profile" in warnings[0]
        assert "'? for shortcuts'" in warnings[0]
        await agent.deliver("hello")
        assert await agent.wait_for_turn(0, within=10) == "echo: hello"
    finally:
        await agent.stop()


async def test_a_screen_no_rule_fits_is_named_instead_of_a_bare_timeout(
    tmp_path: Path, fake_state: None
) -> None:
    """Without hooks nothing else says the CLI is up: the start times out, and both the error
    and the pane's warning say which footer fitted no rule of which profile."""
    rules = load_profiles()["fake"].screen.model_copy(update={"idle": ["^never shown$"]})
    agent, events = await start_agent(tmp_path, hooks=False, screen=rules, startup_timeout=2.0)
    try:
        with pytest.raises(DeliveryError) as failure:
            await agent.wait_until_ready()
        message = str(failure.value)
        assert "did not become ready" in message
        assert "fits no rule of the 'fake' profile (footer '? for shortcuts'" in message
        assert "the profile may not fit this version" in message
        await wait_for(lambda: any(isinstance(e, AgentWarning) for e in events), 10)
        (warning,) = [e.message for e in events if isinstance(e, AgentWarning)]
        assert warning.startswith("not ready after 2 s: the screen of Fake agent")
        assert agent.status is AgentStatus.STARTING
    finally:
        await agent.stop()


@pytest.mark.parametrize("skipped", [False, True], ids=["not-skipped", "skipped"])
async def test_a_mode_that_does_not_ask_is_a_warning_unless_approvals_were_skipped(
    tmp_path: Path, fake_state: None, skipped: bool
) -> None:
    """The CLI's hooks report its permission mode: one that does not ask, while the user did
    not skip approvals, is shown as a warning (once); with --skip-approvals it is expected."""
    profile = fake_profile()
    work = tmp_path / "work"
    work.mkdir()
    spec = prepare_launch(
        profile,
        agent="auto1",
        cwd=work,
        agent_dir=tmp_path / "run" / "auto1",
        skip_approval=skipped,
        # As if the user's own CLI settings chose a mode that does not ask.
        extra_args=[] if skipped else ["--approval-mode", "auto"],
    )
    if not skipped:  # the arguments' own mode is used, and the launch says so
        assert "ask" not in spec.argv
        assert any("choose the permission mode (--approval-mode)" in n for n in spec.notes)
    agent = Agent("auto1", profile, spec, cols=100, rows=30)
    events: list[AgentEvent] = []
    agent.subscribe(events.append)
    await agent.start()
    try:
        await agent.wait_until_ready(15)
        await agent.deliver("one")
        await agent.wait_for_turn(0, within=10)
        await agent.deliver("two")
        await agent.wait_for_turn(1, within=10)
        warnings = [e.message for e in events if isinstance(e, AgentWarning)]
        if skipped:
            assert warnings == []
        else:
            assert len(warnings) == 1, warnings  # once, not on every hook
            assert "reports permission mode 'acceptEdits'" in warnings[0]
        record = json.loads(agent.launch_record.read_text())
        assert record["approvals_skipped"] is skipped
    finally:
        await agent.stop()


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "screen-only"])
async def test_approve_edits_leaves_a_write_outside_the_working_folder_to_the_user(
    tmp_path: Path, fake_state: None, hooks: bool
) -> None:
    """With hooks the policy judges the tool call the CLI reported (Write, and where): a write
    outside the working folder is no edit it may approve. Screen-only, it judges the prompt."""
    script = (
        "rules:\n  - match: create\n    write: {path: ../outside.txt, content: kept out}\n"
        "    reply: done\n"
    )
    agent, events = await start_agent(tmp_path, hooks=hooks, script=script)
    agent.policy = ApprovalPolicy.APPROVE_EDITS
    try:
        await agent.deliver("create it")
        await agent.wait_for_status(AgentStatus.NEEDS_APPROVAL, within=10)
        if hooks:
            # Two quiescence periods: the policy had every chance to answer and did not.
            await asyncio.sleep(2 * agent.profile.screen.quiescence)
            assert not [e for e in events if isinstance(e, ApprovalAnswered)]
            assert agent.status is AgentStatus.NEEDS_APPROVAL
            assert not (tmp_path / "outside.txt").exists()
        else:  # the prompt reads "Do you want to create ../outside.txt": an edit by its header
            await wait_turn(events, 1)
    finally:
        await agent.stop()
