"""Each real CLI (Claude Code, Codex, Gemini CLI) launched by coder-tui's own profile code in a
pane of the app: it starts at its prompt with no dialog, its status goes idle -> working -> idle
from its hook events, a 5 KB multi-line prompt reaches the model exactly once and exactly, the
captured reply is the scripted one, and a file write waits for approval from coder-tui's keys
(approve writes the file, deny does not)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

import pytest

from coder_tui import paths
from coder_tui.core.agents import agent as agent_module
from coder_tui.core.agents.adapters import NO_HOOKS
from coder_tui.core.agents.agent import Agent
from coder_tui.core.agents.events import (
    AgentEvent,
    AgentStatus,
    PromptAccepted,
    Source,
    StatusChanged,
    TurnEnded,
)
from coder_tui.core.agents.profile import load_profiles
from coder_tui.ui.app import CoderTuiApp
from coder_tui.ui.widgets.terminal_pane import TerminalPane
from tests.conftest import session_app, wait_for
from tests.e2e.conftest import World
from tests.e2e.fake_model import Api, Reply, WriteFile

API: dict[str, Api] = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}
CLIS = list(API)
STARTUP = 30.0  # seconds: a cold start of a CLI on a loaded 2-core machine
TURN = 60.0


def long_prompt(cli: str) -> str:
    """About 5 KB over many lines: indentation, a code block, non-ASCII, blank lines."""
    lines = [f"Please read this whole request, {cli}, and answer with the agreed reply only."]
    n = 0
    while len("\n".join(lines).encode()) < 5200:
        n += 1
        if n % 17 == 0:
            lines += ["", "```python", "def divide(a, b):", "    return a / b", "```", ""]
        lines.append(
            f"    {n:03d}. divide() and average() in calc.py: check b == 0 and empty lists "
            f"(naïve → ✓, 中文, emoji 🙂) [{n * 7919 % 1000:03d}]"
        )
    lines.append("End of request.")
    return "\n".join(lines)


def make_app(world: World, agent_list: str) -> CoderTuiApp:
    app: CoderTuiApp = session_app(agent_list, world.project)
    return app


def pane_text(app: CoderTuiApp, index: int = 0) -> str:
    pane = app.screen.query_one(f"#pane-{index}", TerminalPane)
    return "\n".join(pane.render_line(y).text for y in range(pane.content_size.height))


async def start(app: CoderTuiApp) -> Agent:
    (agent,) = app.agents
    with contextlib.suppress(TimeoutError):
        await agent.wait_for_status(AgentStatus.IDLE, within=STARTUP)
    screen = "\n".join(agent.screen_lines())
    assert agent.status is AgentStatus.IDLE, f"{agent.name} is {agent.status}:\n{screen}"
    return agent


async def next_turn(agent: Agent, after: int) -> str:
    """The reply of the turn after ``after``; on a timeout the failure shows the agent's status,
    its screen and its last hook events (a flaky run must say why)."""
    try:
        return await agent.wait_for_turn(after, within=TURN)
    except TimeoutError:
        events = agent.spec.events_file.read_text().splitlines()[-6:]
        screen = "\n".join(agent.screen_lines())
        pytest.fail(f"{agent.name} is {agent.status}; last hook events {events}\n{screen}")


async def approval_asked(agent: Agent) -> None:
    with contextlib.suppress(TimeoutError):
        await agent.wait_for_status(AgentStatus.NEEDS_APPROVAL, within=TURN)
    screen = "\n".join(agent.screen_lines())
    assert agent.status is AgentStatus.NEEDS_APPROVAL, f"{agent.name} is {agent.status}\n{screen}"


@pytest.mark.parametrize("cli", CLIS)
async def test_prompt_is_submitted_once_and_reply_captured(world: World, cli: str) -> None:
    prompt = long_prompt(cli)
    assert len(prompt.encode()) >= 5000 and prompt.count("\n") > 40
    reply = f"Reviewed by {cli}.\n\n1. divide() needs a b == 0 check\n2. average([]) fails"
    world.server.script(API[cli], Reply(reply, delay=1.5))
    app = make_app(world, cli)
    async with app.run_test(size=(160, 45)):
        agent = await start(app)
        profile = agent.profile
        # No dialog stands in the way: the CLI's own idle prompt is on screen.
        screen = "\n".join(agent.screen_lines())
        assert any(re.search(p, screen) for p in profile.screen.idle), screen
        events: list[AgentEvent] = []
        agent.subscribe(events.append)

        proof = (await agent.deliver(prompt)).proof
        got = await next_turn(agent, 0)

        assert got == reply
        assert world.server.user_texts(API[cli]) == [prompt]
        assert proof.how == "prompt hook" and proof.enter_presses == 1
        statuses = [(e.old, e.new) for e in events if isinstance(e, StatusChanged)]
        assert statuses == [
            (AgentStatus.IDLE, AgentStatus.WORKING),
            (AgentStatus.WORKING, AgentStatus.IDLE),
        ]
        (accepted,) = [e for e in events if isinstance(e, PromptAccepted)]
        (ended,) = [e for e in events if isinstance(e, TurnEnded)]
        assert accepted.source is Source.HOOK and accepted.prompt == prompt
        assert ended.source is Source.HOOK
        assert agent.session_id, "the CLI's session id was not recorded"
        # The session's run.json has it too (Codex reports it only with the first prompt),
        # so `coder-tui resume` can relaunch the CLI on it.
        assert app.host is not None
        run_file = app.host.store.run_dir / "run.json"
        assert json.loads(run_file.read_text())["agents"][cli]["session_id"] == agent.session_id
        # launch.json records the version that ran, as the CLI itself prints it.
        version = await asyncio.create_subprocess_exec(
            agent.spec.argv[0], "--version", stdout=asyncio.subprocess.PIPE
        )
        printed = (await asyncio.wait_for(version.communicate(), 30))[0].decode().strip()
        await wait_for(lambda: json.loads(agent.launch_record.read_text())["cli_version"])
        assert json.loads(agent.launch_record.read_text())["cli_version"] == printed
        await wait_for(lambda: "idle" in str(app.screen.query_one("#pane-0").border_subtitle))


@pytest.mark.parametrize("cli", CLIS)
async def test_file_write_waits_for_approval_from_coder_tui(
    world: World, cli: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Claude Code and Gemini CLI end a denied turn with no turn-end hook: the agent must see it
    # from the screen after the denial, not from the missed-hook fallback (made too long here).
    monkeypatch.setattr(agent_module, "HOOK_MISS_QUIET", 3600.0)
    # Every CLI asks with its built-in profile: coder-tui launches it in its asking mode.
    approved = world.project / "approved.txt"
    denied = world.project / "denied.txt"
    world.server.script(
        API[cli],
        WriteFile(str(approved), "written after approval\n", then="approved.txt is written"),
        WriteFile(str(denied), "must never be written\n", then="not written"),
        Reply("understood, no file"),
    )
    app = make_app(world, cli)
    async with app.run_test(size=(160, 45)) as pilot:
        agent = await start(app)
        await agent.deliver("Create approved.txt with the agreed content.")
        await approval_asked(agent)
        assert not approved.exists()
        await pilot.press("ctrl+right_square_bracket", "a")  # leave the pane, approve
        await wait_for(approved.exists, TURN, message=lambda: "\n".join(agent.screen_lines()))
        await next_turn(agent, 0)
        assert approved.read_text() == "written after approval\n"
        assert agent.last_reply == "approved.txt is written"

        await agent.deliver("Create denied.txt with the agreed content.")
        await approval_asked(agent)
        await pilot.press("ctrl+right_square_bracket", "d")  # leave the pane, deny
        await next_turn(agent, 1)
        assert agent.status is AgentStatus.IDLE
        assert not denied.exists()
        outcomes = world.server.tool_outcomes(API[cli])
        assert [o.succeeded for o in outcomes][:1] == [True]
        assert not any(o.succeeded for o in outcomes[1:])
        # The agent goes on after a denial: the next prompt is answered.
        await agent.deliver("Fine, leave it.")
        assert await next_turn(agent, 2) == "understood, no file"
        assert not denied.exists()
        assert pane_text(app)  # the pane is drawn


async def test_every_cli_starts_at_its_prompt_in_a_ci_shell(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI machines (and some users' shells) export CI=true; Gemini CLI then skips its UI and
    exits 42 even on a terminal. A pane is a terminal: all three start at their prompt, and the
    channel says what was removed from Gemini's environment."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    world.server.script("gemini", Reply("gemini answers in a CI shell"))
    app = make_app(world, ",".join(CLIS))
    async with app.run_test(size=(160, 45)):
        for agent in app.agents:
            with contextlib.suppress(TimeoutError):
                await agent.wait_for_status(AgentStatus.IDLE, within=STARTUP)
        states = {a.name: (a.status, "\n".join(a.screen_lines()[-8:])) for a in app.agents}
        assert all(status is AgentStatus.IDLE for status, _ in states.values()), states
        gemini = app.agents[CLIS.index("gemini")]
        await gemini.deliver("Say hello.")
        assert await next_turn(gemini, 0) == "gemini answers in a CI shell"
        assert any("CI, GITHUB_ACTIONS not passed to Gemini CLI" in n for n in app.host.notes)


def write_user_claude_profile(**changes: object) -> None:
    """A user's own claude profile: the built-in one with ``changes``."""
    folder = paths.config_dir() / "agents"
    folder.mkdir(parents=True, exist_ok=True)
    profile = load_profiles()["claude"].model_copy(update=changes)
    (folder / "claude.yaml").write_text(profile.model_dump_json())


def set_claude_default_mode(world: World, mode: str) -> None:
    """As a user's own ~/.claude/settings.json would choose a permission mode."""
    settings = world.home / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    data["permissions"] = {"defaultMode": mode}
    settings.write_text(json.dumps(data))


@pytest.mark.parametrize("mode", ["default", "acceptEdits", "plan", "auto", "bypassPermissions"])
async def test_claude_asks_whatever_mode_the_users_settings_choose(world: World, mode: str) -> None:
    """coder-tui is the approval authority: whatever defaultMode the user's own settings
    choose (2.1.332's own default is auto, which writes without asking), Claude inside
    coder-tui starts ready, asks before a write, and the launch says what it overrode."""
    target = world.project / "asked.txt"
    world.server.script("anthropic", WriteFile(str(target), "asked first\n", then="written"))
    set_claude_default_mode(world, mode)
    app = make_app(world, "claude")
    async with app.run_test(size=(120, 40)) as pilot:
        agent = await start(app)
        assert any("--permission-mode default" in note for note in app.host.notes)
        overridden = [note for note in app.host.notes if "sets defaultMode" in note]
        assert bool(overridden) is (mode != "default"), app.host.notes
        await agent.deliver("Create asked.txt with the agreed content.")
        await approval_asked(agent)
        assert not target.exists()
        await pilot.press("ctrl+right_square_bracket", "a")
        assert await next_turn(agent, 0) == "written"
        assert target.read_text() == "asked first\n"
        assert agent.warnings == []


async def test_a_claude_mode_that_does_not_ask_is_a_visible_warning(world: World) -> None:
    """A user who takes the asking mode out of the profile gets the mode of their own settings;
    when that mode does not ask (acceptEdits here) and approvals were not skipped, Claude's
    hooks report it and coder-tui says so in the channel, once."""
    set_claude_default_mode(world, "acceptEdits")
    write_user_claude_profile(ask_approval_args=[])
    world.server.script("anthropic", Reply("one"), Reply("two"))
    app = make_app(world, "claude")
    async with app.run_test(size=(120, 40)):
        agent = await start(app)
        await agent.deliver("Say one.")
        assert await next_turn(agent, 0) == "one"
        await agent.deliver("Say two.")
        assert await next_turn(agent, 1) == "two"
        (warning,) = agent.warnings
        assert "reports permission mode 'acceptEdits'" in warning
        assert app.channel is not None
        posted = [m.text for m in app.channel.messages if m.author == "system"]
        assert f"claude: {warning}" in posted


async def test_claudes_diff_panel_stays_out_of_a_reply_read_from_the_screen(world: World) -> None:
    """Claude Code 2.1.332 opens a diff panel beside the transcript after a file change when
    the pane is 144+ columns wide. A reply read from the screen (here: a profile without hooks,
    so the screen is the only source) holds the reply, not the panel."""
    config = world.home / ".claude.json"
    data = json.loads(config.read_text())
    data["projects"] = {str(world.project): {"hasTrustDialogAccepted": True}}  # no hooks: no
    config.write_text(json.dumps(data))  # trust from coder-tui's Claude launch either
    write_user_claude_profile(hooks=NO_HOOKS)
    target = world.project / "notes.txt"
    world.server.script("anthropic", WriteFile(str(target), "hello\nworld\n", then="wrote it"))
    app = make_app(world, "claude")
    async with app.run_test(size=(160, 45)) as pilot:
        agent = await start(app)
        await pilot.press("ctrl+right_square_bracket", "m")  # maximise the pane: 144+ columns
        await wait_for(lambda: agent.session.screen.cols >= 144)
        await agent.wait_until_ready()
        await agent.deliver("Please write notes.txt")
        await approval_asked(agent)
        agent.approve()  # (the keys that do this are tested above; this test is the panel's)
        reply = await next_turn(agent, 0)
        raw = agent.session.screen.text()
        version = json.loads(agent.launch_record.read_text())["cli_version"] or ""
        if version.startswith("2.1.332"):
            assert "/diff to close" in raw, raw  # the panel is open on this version
        assert reply.endswith("wrote it"), reply
        assert "file changed" not in reply and "/diff to close" not in reply, reply
        assert "│" not in reply, reply
        assert "Write(notes.txt)" in reply  # the turn's own transcript, read left of the panel


async def test_a_prompt_starting_with_bang_or_slash_is_not_run_as_a_command(world: World) -> None:
    """A model's reply forwarded to Claude may start with `!` (Claude would run it in bash) or
    `/` (a slash command): it reaches the model as a prompt, behind a backslash."""
    world.server.script("anthropic", Reply("not run"), Reply("not a command"))
    app = make_app(world, "claude")
    async with app.run_test(size=(120, 40)):
        agent = await start(app)
        await agent.deliver("!touch ran.txt")
        assert await next_turn(agent, 0) == "not run"
        await agent.deliver("/clear the cache\nline two")
        assert await next_turn(agent, 1) == "not a command"
        assert world.server.user_texts("anthropic") == [
            "\\!touch ran.txt",
            "\\/clear the cache\nline two",
        ]
        assert not (world.project / "ran.txt").exists()
