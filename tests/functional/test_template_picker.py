"""The template picker and the command palette, driven through Textual's pilot in the real app:
two scripted fake agents in real PTYs, a user template they can fill, and the built-ins."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from coder_tui import paths
from coder_tui.core.agents.events import AgentStatus
from coder_tui.core.runs import RunStatus
from coder_tui.ui.app import CoderTuiApp, PanesScreen
from coder_tui.ui.screens.template_picker import UNFILLABLE, TemplatePicker
from tests.conftest import session_app, wait_for
from tests.fake_profiles import write_fake_profile

SCRIPT = """\
rules:
  - match: "^Check:"
    delay: 2.0
    reply: "checked: looks right"
default_reply: "echo: {prompt}"
"""

# A user template the fake agents can fill: both roles prefer the `scripted` profile.
TEMPLATE = """\
name: echo-pair
title: Echo pair
category: test
description: |
  A writer answers the task;
  a checker reads the answer.
inputs:
  - name: task
    description: What the writer should answer
  - name: tone
    description: How to answer
    required: false
    default: plain
roles:
  writer:
    description: Answers the task
    prefer: [scripted]
  checker:
    description: Reads the answer
    prefer: [scripted]
steps:
  - id: write
    role: writer
    prompt: "Write: {{ inputs.task }} ({{ inputs.tone }})"
  - id: check
    role: checker
    prompt: "Check: {{ steps.write.reply }}"
"""


@pytest.fixture
def scripted_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user profile (the fake agent with a reply script) and a user template for it."""
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT)
    write_fake_profile(paths.config_dir() / "agents", "scripted", script)
    templates = paths.config_dir() / "templates"
    templates.mkdir(parents=True)
    (templates / "echo-pair.yaml").write_text(TEMPLATE)


def make_app(tmp_path: Path, agent_list: str) -> CoderTuiApp:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    app: CoderTuiApp = session_app(agent_list, work)
    return app


async def agents_idle(app: CoderTuiApp) -> None:
    for agent in app.agents:
        await agent.wait_for_status(AgentStatus.IDLE, within=15)


async def open_picker(pilot: Pilot[Any]) -> TemplatePicker:
    """Leave the focused pane and press t, as a user would."""
    await pilot.press("ctrl+right_square_bracket", "t")
    await wait_for(lambda: isinstance(pilot.app.screen, TemplatePicker))
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, TemplatePicker)
    return screen


def listed(picker: TemplatePicker) -> list[tuple[str, bool]]:
    """The list's lines: (text, is a category heading)."""
    option_list = picker.query_one("#picker-list", OptionList)
    options = [option_list.get_option_at_index(i) for i in range(option_list.option_count)]
    return [(str(option.prompt), option.disabled) for option in options]


def details(picker: TemplatePicker) -> str:
    return str(picker.query_one("#picker-details", Static).render())


def error(picker: TemplatePicker) -> str:
    return str(picker.query_one("#picker-error", Static).render())


def form_inputs(picker: TemplatePicker) -> dict[str, Input]:
    assert picker.current is not None
    form = picker.query_one(f"#form-{picker.current.name}")
    return {field.name or "": field for field in form.query(Input)}


async def palette_hits(pilot: Pilot[Any], query: str, expected: str) -> list[str]:
    """Open the command palette, type ``query``, wait for ``expected``; the hits' texts."""
    app = pilot.app
    app.action_command_palette()
    await wait_for(lambda: CommandPalette.is_open(app))
    await pilot.pause()
    await pilot.press(*query)
    command_list = app.screen.query_one(CommandList)

    def texts() -> list[str]:
        options = [command_list.get_option_at_index(i) for i in range(command_list.option_count)]
        return [str(getattr(option, "hit", option).text) for option in options]

    await wait_for(lambda: expected in texts(), 5, message=lambda: str(texts()))
    await pilot.pause(0.3)  # the palette gathers hits in the background: let it finish
    return texts()


async def test_filter_fill_and_start_runs_the_template(
    tmp_path: Path, scripted_setup: None
) -> None:
    app = make_app(tmp_path, "alpha=scripted,beta=scripted")
    session_dir = app.host.store.run_dir
    async with app.run_test(size=(160, 45)) as pilot:
        await agents_idle(app)
        picker = await open_picker(pilot)
        assert ("REVIEW", True) in listed(picker)  # the built-ins, under their categories
        await pilot.press(*"ECHO pair")  # any case
        assert listed(picker) == [("TEST", True), ("Echo pair", False)]
        shown = details(picker)
        assert "Echo pair" in shown
        assert "A writer answers the task; a checker reads the answer." in shown
        assert "writer  Answers the task\n  → alpha (scripted)" in shown
        assert "checker  Reads the answer\n  → beta (scripted)" in shown
        fields = form_inputs(picker)
        assert list(fields) == ["task", "tone"]
        assert fields["tone"].value == "plain"  # the default, pre-filled
        assert fields["task"].placeholder == "What the writer should answer"
        labels = [str(label.render()) for label in picker.query(".picker-label").results(Static)]
        assert "task *" in labels and "tone" in labels  # required inputs are marked

        await pilot.press("down", "enter")  # to the list, then Enter on it: to the form
        assert picker.focused is fields["task"]
        await pilot.press(*"say hello", "enter")  # Enter: the next input
        assert picker.focused is fields["tone"]
        await pilot.press("enter")  # Enter in the last input: start
        await wait_for(lambda: isinstance(app.screen, PanesScreen))
        await wait_for(lambda: app.run_in_progress, 20, message=lambda: str(app.host.state))

        store = app.host.store
        # The session's run takes the template: its agents, their folders and sessions.
        assert store.run_dir == session_dir
        saved = json.loads((store.run_dir / "run.json").read_text())
        assert saved["template"] == "echo-pair"
        assert saved["inputs"] == {"task": "say hello", "tone": "plain"}
        assert saved["roles"] == {"writer": "alpha", "checker": "beta"}
        assert app.channel is store.channel

        # While the run is in progress, t refuses to start another one. (Closing a modal
        # screen focuses the first pane, Textual's AUTO_FOCUS: leave it first.)
        await pilot.press("ctrl+right_square_bracket", "t")
        await pilot.pause()
        assert isinstance(app.screen, PanesScreen)
        assert any("already running" in n.message for n in app._notifications)

        # The palette lists the run actions, with their keys.
        await palette_hits(pilot, "pause", "Pause/resume (p)")
        await pilot.press("escape")

        await wait_for(lambda: store.state.status is RunStatus.SUCCEEDED, 30)
        replies = [m.text for m in store.channel.messages if m.author in ("alpha", "beta")]
        assert "echo: Write: say hello (plain)" in replies
        assert "checked: looks right" in replies

        # A template command opens the picker with that template chosen.
        hits = await palette_hits(pilot, "run template echo", "Run template: Echo pair")
        assert hits[0] == "Run template: Echo pair"
        await pilot.press("down", "enter")
        await wait_for(lambda: isinstance(app.screen, TemplatePicker))
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, TemplatePicker)
        assert picker.current is not None and picker.current.name == "echo-pair"
        assert picker.focused is form_inputs(picker)["task"]
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, PanesScreen))


async def test_escape_cancels_and_mistakes_are_shown_inline(
    tmp_path: Path, scripted_setup: None
) -> None:
    app = make_app(tmp_path, "alpha=scripted,beta=scripted")
    runs_before = set(paths.runs_dir().iterdir())
    async with app.run_test(size=(160, 45)) as pilot:
        await agents_idle(app)

        # Escape: nothing starts.
        picker = await open_picker(pilot)
        await pilot.press(*"echo", "enter", *"never run")
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, PanesScreen))
        assert app.host.operator is None and app.host.state.template == ""

        # A required input left empty: said inline, the picker stays open.
        picker = await open_picker(pilot)
        await pilot.press(*"echo pair", "enter")
        fields = form_inputs(picker)
        assert picker.focused is fields["task"]
        await pilot.press("tab", "ctrl+s")  # from the optional input: focus goes back
        await pilot.pause()
        assert app.screen is picker
        assert "task is required." in error(picker)
        assert fields["task"].has_class("-invalid")
        assert picker.focused is fields["task"]
        await pilot.press("x")
        assert not fields["task"].has_class("-invalid")  # typing clears the mark

        # A role no launched agent can fill: said in the details and when starting.
        await pilot.click("#picker-filter")
        filter_input = picker.query_one("#picker-filter", Input)
        await wait_for(lambda: picker.focused is filter_input)
        await pilot.press("end", "ctrl+u")  # clear the filter
        await pilot.press(*"review-fix")
        await pilot.pause()
        assert picker.current is not None and picker.current.name == "review-fix"
        shown = details(picker)
        assert shown.count(UNFILLABLE) == len(picker.current.roles)
        await pilot.press("enter", *"the last commit")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is picker
        assert "No launched agent can fill the roles reviewer" in error(picker)
        assert "launched: alpha, beta" in error(picker)
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, PanesScreen))
        assert app.host.operator is None and app.host.state.template == ""
    assert set(paths.runs_dir().iterdir()) == runs_before | {app.host.store.run_dir}


def test_picker_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    """The picker over an app without agents: built-in templates, roles nobody can fill."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("ctrl+right_square_bracket", "t")
        await wait_for(lambda: isinstance(pilot.app.screen, TemplatePicker))
        await pilot.press(*"review")
        await pilot.pause()

    app = CoderTuiApp([[sys.executable, "-c", "input()"]], labels=["python"], cwd=tmp_path)
    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)
