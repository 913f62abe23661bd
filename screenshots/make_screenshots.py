"""Make the README's screenshots from the real app: `python screenshots/make_screenshots.py`.

Runs coder-tui headless (Textual's test driver, real PTYs, real children), drives it like a
user, and saves SVGs next to this file. Use a throwaway CODER_TUI_HOME so no run folders of
yours are written: the script sets one under a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

SCRIPT = """\
rules:
  - match: review
    delay: 1.0
    reply: |
      Two problems in calc.py:
      1. divide() does not handle b == 0
      2. no tests
      VERDICT: CHANGES_REQUESTED
  - match: fix
    delay: 0.8
    write:
      path: calc.py
      content: |
        def divide(a, b):
            if b == 0:
                raise ZeroDivisionError('b is 0')
            return a / b
    reply: "Fixed divide() and added a guard for b == 0."
default_reply: "echo: {prompt}"
"""


async def wait_until(predicate, within: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.05)


async def panes_screenshot() -> None:
    from coder_tui.ui.app import CoderTuiApp
    from coder_tui.ui.widgets.terminal_pane import TerminalPane

    work = Path(tempfile.mkdtemp())
    (work / "notes.md").write_text("# coder-tui\n\nPanes that behave like a real terminal.\n")
    py = sys.executable
    printer = (
        "import sys\n"
        "for n in range(8):\n"
        "    sys.stdout.write(f'\\x1b[38;5;{196 + n}m██ colour {n}\\x1b[0m  ')\n"
        "print('\\n\\x1b[1mbold\\x1b[0m \\x1b[3mitalic\\x1b[0m 中文 😀 e\\u0301')\n"
        "input('> ')\n"
    )
    app = CoderTuiApp(
        [["vim", "-u", "NONE", "-N", "notes.md"], [py, "-q"], [py, "-c", printer]],
        labels=["vim notes.md", "python3", "colours"],
        cwd=work,
    )
    async with app.run_test(size=(150, 40)) as pilot:
        panes = list(app.screen.query(TerminalPane))
        await wait_until(lambda: all(p.session.bytes_received for p in panes))
        await pilot.press("ctrl+right_square_bracket", "2")
        await pilot.press(*"sum(range(10))", "enter")
        await pilot.pause(0.5)
        app.save_screenshot("panes.svg", str(HERE))
        await app.action_quit()


async def agents_screenshot() -> None:
    from coder_tui import paths
    from coder_tui.core.agents.events import AgentStatus
    from coder_tui.core.agents.profile import load_profiles
    from coder_tui.core.agents.team import parse_agent_list
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.ui.app import CoderTuiApp

    work = Path(tempfile.mkdtemp())
    (work / "calc.py").write_text("def divide(a, b):\n    return a / b\n")
    script = work.parent / f"{work.name}-script.yaml"
    script.write_text(SCRIPT)
    agents_dir = paths.config_dir() / "agents"
    agents_dir.mkdir(parents=True, exist_ok=True)
    base = load_profiles()["fake"]
    (agents_dir / "demo.yaml").write_text(
        base.model_copy(
            update={"name": "demo", "args": [*base.args, "--script", str(script)]}
        ).model_dump_json()
    )
    profiles = load_profiles()
    requests = parse_agent_list("reviewer=demo,fixer=demo,checker=demo", profiles)
    host = RunHost.new(paths.runs_dir(), work, requests, profiles, options=HostOptions.for_tui())
    app = CoderTuiApp(host=host)
    async with app.run_test(size=(150, 40)) as pilot:
        reviewer, fixer, _ = app.agents
        await wait_until(lambda: all(a.status is AgentStatus.IDLE for a in app.agents))
        await reviewer.deliver("Please review calc.py")
        await wait_until(lambda: reviewer.turns == 1)
        await fixer.deliver("Please fix: " + (reviewer.last_reply or ""))
        await wait_until(lambda: fixer.status is AgentStatus.NEEDS_APPROVAL)
        await pilot.pause(0.5)
        await pilot.press("ctrl+right_square_bracket", "2")
        await pilot.press("ctrl+right_square_bracket")
        await pilot.pause(0.3)
        app.save_screenshot("agents.svg", str(HERE))
        await app.action_quit()


async def workflow_screenshot() -> None:
    """The demo's Review-Fix run, caught while the fixer works on the review."""
    from coder_tui import paths
    from coder_tui.cli.demo import prepare_demo
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.ui.app import CoderTuiApp

    template, inputs, requests, profiles, project = prepare_demo(Path(tempfile.mkdtemp()))
    host = RunHost.new(
        paths.runs_dir(),
        project,
        requests,
        profiles,
        template=template,
        inputs=inputs,
        options=HostOptions.for_tui(),
    )
    store = host.store
    app = CoderTuiApp(host=host)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_until(lambda: store.state.step_rounds.get("fix", 0) >= 1, 60)
        await pilot.pause(1.5)
        app.save_screenshot("workflow.svg", str(HERE))
        await app.action_quit()


def main() -> int:
    os.environ["CODER_TUI_HOME"] = tempfile.mkdtemp(prefix="coder-tui-shots-")
    os.environ["FAKE_AGENT_STATE_DIR"] = tempfile.mkdtemp(prefix="fake-agent-")
    from coder_tui.ui import prepare_textual_environment

    prepare_textual_environment()
    asyncio.run(panes_screenshot())
    asyncio.run(agents_screenshot())
    asyncio.run(workflow_screenshot())
    print(f"wrote panes.svg, agents.svg and workflow.svg in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
