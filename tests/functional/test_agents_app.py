"""The app with agents: status on panes and in the status bar, the channel, approval keys,
policy and restart, driven through Textual's pilot with the fake agent in real PTYs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coder_tui import paths
from coder_tui.core.agents.events import AgentStatus, ApprovalPolicy
from coder_tui.ui.app import CoderTuiApp
from coder_tui.ui.widgets.agent_status import StatusBar
from coder_tui.ui.widgets.channel_view import ChannelView
from coder_tui.ui.widgets.terminal_pane import TerminalPane
from tests.conftest import session_app, wait_for
from tests.fake_profiles import write_fake_profile

SCRIPT = """\
rules:
  - match: create
    write: {path: approved.txt, content: "by the user\\n"}
    reply: file created
  - match: other
    write: {path: denied.txt, content: "never\\n"}
    reply: tried
default_reply: "echo: {prompt}"
"""


@pytest.fixture
def scripted_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user profile, as a user would add one: the fake agent with a reply script."""
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT)
    write_fake_profile(paths.config_dir() / "agents", "scripted", script)


def make_app(
    tmp_path: Path, agent_list: str, commands: list[list[str]] | None = None
) -> CoderTuiApp:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    app: CoderTuiApp = session_app(agent_list, work, commands)
    return app


def text_of(widget: TerminalPane | StatusBar) -> str:
    if isinstance(widget, TerminalPane):
        return "\n".join(widget.render_line(y).text for y in range(widget.content_size.height))
    return str(widget.render())


async def test_typing_into_an_agent_shows_status_reply_and_channel(
    tmp_path: Path, scripted_profile: None
) -> None:
    app = make_app(tmp_path, "alpha=scripted,beta=scripted")
    async with app.run_test(size=(160, 45)) as pilot:
        alpha, beta = app.agents
        await alpha.wait_for_status(AgentStatus.IDLE, within=15)
        await beta.wait_for_status(AgentStatus.IDLE, within=15)
        status = app.screen.query_one(StatusBar)
        await wait_for(
            lambda: "1 alpha ● idle" in text_of(status) and "2 beta ● idle" in text_of(status)
        )
        pane = app.screen.query_one("#pane-0", TerminalPane)
        assert "idle" in str(pane.border_subtitle)
        await pilot.press(*"hi there", "enter")
        channel = app.screen.query_one(ChannelView)
        await wait_for(lambda: "echo: hi there" in channel_text(channel), 10)
        assert "alpha\necho: hi there" in channel_text(channel)  # author, then the reply
        assert alpha.turns == 1 and alpha.last_reply == "echo: hi there"


async def test_approve_and_deny_from_navigation_keys(
    tmp_path: Path, scripted_profile: None
) -> None:
    app = make_app(tmp_path, "solo=scripted")
    work = tmp_path / "work"
    async with app.run_test(size=(140, 40)) as pilot:
        (agent,) = app.agents
        await agent.wait_for_status(AgentStatus.IDLE, within=15)
        await pilot.press(*"please create", "enter")
        await agent.wait_for_status(AgentStatus.NEEDS_APPROVAL, within=10)
        await pilot.pause()
        status = app.screen.query_one(StatusBar)
        assert "solo: ^] then a approve · d deny" in text_of(status)
        assert not (work / "approved.txt").exists()
        await pilot.press("ctrl+right_square_bracket", "a")
        await wait_for(lambda: (work / "approved.txt").exists(), 10)
        await agent.wait_for_status(AgentStatus.IDLE, within=10)
        await wait_for(
            lambda: "approved by user" in channel_text(app.screen.query_one(ChannelView))
        )
        # Deny: enter the pane again, ask, leave, press d.
        await pilot.press("enter", *"other", "enter")
        await agent.wait_for_status(AgentStatus.NEEDS_APPROVAL, within=10)
        await pilot.press("ctrl+right_square_bracket", "d")
        await wait_for(lambda: agent.turns == 2, 10)
        assert "Edit denied" in (agent.last_reply or "")
        assert not (work / "denied.txt").exists()


async def test_policy_key_and_restart(tmp_path: Path, scripted_profile: None) -> None:
    app = make_app(tmp_path, "solo=scripted")
    async with app.run_test(size=(140, 40)) as pilot:
        (agent,) = app.agents
        await agent.wait_for_status(AgentStatus.IDLE, within=15)
        await pilot.press("ctrl+right_square_bracket", "o")
        assert agent.policy is ApprovalPolicy.APPROVE_EDITS
        await pilot.pause()
        assert "auto-approves edits" in text_of(app.screen.query_one(StatusBar))
        first_session = agent.session_id
        await pilot.press("r")
        await wait_for(lambda: app.agents and app.agents[0] is not agent, 10)
        restarted = app.agents[0]
        await restarted.wait_for_status(AgentStatus.IDLE, within=15)
        assert restarted.session_id != first_session
        assert restarted.policy is ApprovalPolicy.APPROVE_EDITS  # kept across the restart
        assert agent.status is AgentStatus.EXITED
        pane = app.screen.query_one("#pane-0", TerminalPane)
        await wait_for(lambda: (restarted.session_id or "")[:8] in text_of(pane), 10)
        # The restarted agent works, and its edits are now approved by policy.
        await pilot.press("enter", *"create it", "enter")
        await wait_for(lambda: (tmp_path / "work" / "approved.txt").exists(), 10)
        # The channel says the agent was restarted, not that it "exited" (the restart did that).
        assert app.channel is not None
        posted = [m.text for m in app.channel.messages if m.author == "system"]
        assert "solo was restarted" in posted
        assert not [text for text in posted if "exited" in text or "killed" in text], posted


async def test_a_session_without_a_template_is_a_run_that_resumes_on_its_cli_sessions(
    tmp_path: Path, scripted_profile: None
) -> None:
    """`coder-tui --agents ...` is a run too: quitting keeps it (paused, listed by `runs`),
    and resuming it relaunches each agent on its own CLI session with its policy, the
    channel as it was."""
    import json

    from coder_tui.core.agents.profile import load_profiles
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.core.runs import RunStore
    from tests.conftest import run_coder_tui

    app = make_app(tmp_path, "solo=scripted")
    assert app.host is not None
    run_dir = app.host.store.run_dir
    async with app.run_test(size=(140, 40)) as pilot:
        (agent,) = app.agents
        await agent.wait_for_status(AgentStatus.IDLE, within=15)
        await pilot.press(*"hello", "enter")
        await wait_for(lambda: agent.turns == 1, 10)
        await pilot.press("ctrl+right_square_bracket", "o")  # approve-edits from now on
        session_id = agent.session_id
        await pilot.press("ctrl+q")
        await wait_for(lambda: not app.is_running, 30)
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["status"] == "paused" and saved["template"] == ""
    assert saved["agents"]["solo"] == {
        "profile": "scripted",
        "session_id": session_id,
        "policy": "approve-edits",
        "skip_approval": False,
        "home": None,
    }
    listed = run_coder_tui("runs", cwd=tmp_path)
    assert run_dir.name in listed.stdout and "(agents only)" in listed.stdout
    refused = run_coder_tui("resume", run_dir.name, "--headless", cwd=tmp_path)
    assert refused.returncode == 2 and "resume it in the TUI" in refused.stderr

    host = RunHost.resumed(
        RunStore.open(run_dir), load_profiles(), None, options=HostOptions.for_tui()
    )
    resumed = CoderTuiApp(host=host)
    async with resumed.run_test(size=(140, 40)):
        (again,) = resumed.agents
        argv = again.spec.argv
        assert argv[argv.index("--resume") + 1] == session_id
        assert again.policy is ApprovalPolicy.APPROVE_EDITS
        await again.wait_for_status(AgentStatus.IDLE, within=15)
        channel = resumed.screen.query_one(ChannelView)
        await wait_for(lambda: "echo: hello" in channel_text(channel), 10)
        assert json.loads((run_dir / "run.json").read_text())["status"] == "running"


async def test_missing_cli_shows_install_hint_and_others_run(
    tmp_path: Path, scripted_profile: None
) -> None:
    agents = paths.config_dir() / "agents"
    (agents / "ghost.yaml").write_text(
        "name: ghost\ncommand: [no-such-agent-cli]\ninstall: npm install -g ghost-agent\n"
    )
    app = make_app(tmp_path, "ghost,ok=scripted")
    async with app.run_test(size=(160, 40)):
        ghost, ok = app.agents
        pane = app.screen.query_one("#pane-0", TerminalPane)
        await wait_for(lambda: "npm install -g ghost-agent" in text_of(pane).replace("\n", ""))
        assert ghost.status is AgentStatus.EXITED
        await ok.wait_for_status(AgentStatus.IDLE, within=15)


def channel_text(channel: ChannelView) -> str:
    return channel.text()


async def test_channel_formats_code_blocks_and_folds_long_replies(
    tmp_path: Path, scripted_profile: None
) -> None:
    from coder_tui.core.channel import MessageKind
    from coder_tui.ui.widgets.channel_view import FOLD_LINES, MessageView

    app = make_app(tmp_path, "solo=scripted")
    async with app.run_test(size=(140, 40)) as pilot:
        assert app.channel is not None
        code = "Here is the fix:\n```python\ndef divide(a, b):\n    return a / b\n```"
        app.channel.post("solo", code, kind=MessageKind.REPLY)
        long_text = "\n".join(f"line {n}" for n in range(FOLD_LINES + 5))
        app.channel.post("solo", long_text, kind=MessageKind.REPLY)
        await wait_for(lambda: len(app.screen.query(MessageView)) >= 2)
        await pilot.pause()
        code_view, long_view = list(app.screen.query(MessageView))[-2:]
        body = code_view.query_one(".body")
        assert type(body.render()).__name__ != "Content"  # rendered as markdown with syntax
        lines = [body.render_line(y).text for y in range(body.size.height)]
        assert any("def divide(a, b):" in line for line in lines)
        assert not any("```" in line for line in lines)  # fences are not shown as text
        assert "5 more lines (enter to expand)" in long_view.render_text()
        assert f"line {FOLD_LINES + 4}" not in long_view.render_text()
        long_view.focus()
        await pilot.press("enter")
        assert f"line {FOLD_LINES + 4}" in long_view.render_text()


async def test_no_agent_outlives_the_app_however_it_ends(
    tmp_path: Path, scripted_profile: None
) -> None:
    """The app leaves without its quit key (here the test driver ends it): the agents' whole
    process groups are gone all the same."""
    app = make_app(tmp_path, "alpha=scripted,beta=scripted")
    async with app.run_test(size=(140, 40)):
        for agent in app.agents:
            await agent.wait_for_status(AgentStatus.IDLE, within=15)
        pids = [agent.session.pty.pid for agent in app.agents if agent.session.pty is not None]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # each agent leads its own process group


@pytest.mark.parametrize("leave", ["escape", "ctrl+right_square_bracket"])
async def test_escape_and_the_leave_key_take_the_channel_input_back_to_navigation(
    tmp_path: Path, scripted_profile: None, leave: str
) -> None:
    """After ``c`` the input line has the keys; escape and the leave-pane key (ctrl+]) give
    them back to navigation, so ``o`` is the policy key again, not a letter typed."""
    from textual.widgets import Input
    from textual.widgets._footer import FooterKey

    app = make_app(tmp_path, "solo=scripted")
    async with app.run_test(size=(160, 40)) as pilot:
        (agent,) = app.agents
        await agent.wait_for_status(AgentStatus.IDLE, within=15)
        say = app.screen.query_one("#say", Input)
        unfocused = say.placeholder
        await pilot.press("ctrl+right_square_bracket", "c", *"hi po")
        assert app.focused is say and say.value == "hi po"  # p and o are letters here
        assert agent.policy is ApprovalPolicy.ASK
        # While it has the keys, the input and the footer say how to leave it.
        assert "esc or ^] leaves" in say.placeholder
        await pilot.pause()
        footer = " ".join(str(key.render()) for key in app.screen.query(FooterKey))
        assert "esc" in footer and "Leave channel" in footer
        assert "Policy" not in footer  # the navigation keys are letters now
        await pilot.press(leave)
        assert app.focused is None and say.value == "hi po"
        assert say.placeholder == unfocused
        await pilot.press("o")
        assert agent.policy is ApprovalPolicy.APPROVE_EDITS and say.value == "hi po"
        await pilot.pause()
        footer = " ".join(str(key.render()) for key in app.screen.query(FooterKey))
        assert "Policy" in footer and "Leave channel" not in footer
        # Back in: the text is kept; enter says it, and the input keeps the keys.
        await pilot.press("c", "enter")
        channel = app.screen.query_one(ChannelView)
        await wait_for(lambda: "hi po" in channel_text(channel), 10)
        assert app.focused is say and say.value == ""
