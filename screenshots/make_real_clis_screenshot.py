"""The README's screenshot of the real Claude Code, Codex and Gemini CLIs side by side in a
Review-Fix run: `python screenshots/make_real_clis_screenshot.py` (after tests/e2e/install-clis).

Everything stays on this machine: the CLIs talk to the end-to-end tests' fake model server on
127.0.0.1 (scripted replies), every other connection goes to a proxy that refuses it, and each
CLI gets a throwaway HOME. The picture is taken while Claude reviews round 2, after Codex's
patch landed. Saves ``real-clis.svg`` next to this file.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.clis import find_cli  # noqa: E402
from tests.e2e.fake_model import FakeModelServer, Reply, WriteFile  # noqa: E402
from tests.e2e.homes import cli_home  # noqa: E402
from tests.e2e.proxy import CODEX_TIP_HOST, RefusingProxy  # noqa: E402

CALC = "def divide(a, b):\n    return a / b\n"
FIXED = (
    'def divide(a, b):\n    if b == 0:\n        raise ValueError("b must not be 0")\n'
    "    return a / b\n"
)
REVIEW_1 = (
    "1. calc.py:2 divide() fails with a bare ZeroDivisionError when b == 0: raise "
    'ValueError("b must not be 0") instead.\n\nVERDICT: CHANGES_REQUESTED'
)
FIX_1 = "1 DONE: calc.py divide() raises ValueError for b == 0. Ran: pytest -q (1 passed)."
REVIEW_2 = "Point 1 is addressed.\n\nVERDICT: APPROVE"
CHECK_1 = "Ran: pytest -q -> 1 passed.\nProblems found: none\n\nCHECK: PASS"


async def wait_until(predicate, within: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not reach the expected state")
        await asyncio.sleep(0.1)


def prepare(work: Path, server: FakeModelServer, proxy: RefusingProxy) -> Path:
    """A git project and the three CLIs' homes; the environment is set for their launch."""
    project = work / "calc"
    project.mkdir()
    (project / "calc.py").write_text(CALC)
    (project / "test_calc.py").write_text(
        "from calc import divide\n\n\ndef test_divide():\n    assert divide(6, 3) == 2\n"
    )
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "start"]):
        subprocess.run(
            ["git", "-c", "user.name=demo", "-c", "user.email=demo@example.com", *args],
            cwd=project,
            check=True,
        )
    home = work / "home"
    os.environ["HOME"] = str(home)
    os.environ["CODER_TUI_HOME"] = str(work / "coder-tui-home")
    bins = set()
    for cli in ("claude", "codex", "gemini"):
        found = find_cli(cli)
        if found is None:
            raise SystemExit(f"{cli} is not installed: run tests/e2e/install-clis first")
        bins.add(str(found.parent))
        env = cli_home(cli, home, server.url, project, proxy_url=proxy.url, trust_project=False)
        os.environ.update(env)
    os.environ["PATH"] = os.pathsep.join([*sorted(bins), os.environ["PATH"]])
    server.script("anthropic", Reply(REVIEW_1, delay=1.0), Reply(REVIEW_2, delay=30))
    server.script("openai", WriteFile(str(project / "calc.py"), FIXED, then=FIX_1))
    server.script("gemini", Reply(CHECK_1))
    return project.resolve()


async def screenshot(project: Path, server: FakeModelServer) -> None:
    from coder_tui import paths
    from coder_tui.cli.common import known_profiles, known_templates
    from coder_tui.core.agents.events import ApprovalPolicy
    from coder_tui.core.agents.team import AgentRequest
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.ui.app import CoderTuiApp

    template = known_templates(None)["review-fix"]
    requests = [
        AgentRequest("reviewer", "claude"),
        AgentRequest("fixer", "codex", ApprovalPolicy.APPROVE_EDITS),
        AgentRequest("checker", "gemini"),
    ]
    inputs = {"task": "the divide() function in calc.py", "focus": ""}
    host = RunHost.new(
        paths.runs_dir(),
        project,
        requests,
        known_profiles(None),
        template=template,
        inputs=inputs,
        options=HostOptions.for_tui(),
    )
    app = CoderTuiApp(host=host)
    async with app.run_test(size=(200, 50)) as pilot:
        # Round 2 of the review is at the model: Codex's patch is in, Claude is working.
        await wait_until(lambda: len(server.user_texts("anthropic")) == 2)
        await pilot.pause(2.5)
        app.save_screenshot("real-clis.svg", str(HERE))
        await app.action_quit()


def main() -> int:
    from coder_tui.ui import prepare_textual_environment

    work = Path(tempfile.mkdtemp(prefix="coder-tui-real-clis-"))
    with FakeModelServer() as server, RefusingProxy(allowed=[CODEX_TIP_HOST]) as proxy:
        project = prepare(work, server, proxy)
        prepare_textual_environment()
        asyncio.run(screenshot(project, server))
        if proxy.violations():
            print(f"warning: a CLI tried to leave the machine: {proxy.violations()}")
    print(f"wrote {HERE / 'real-clis.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
