"""``coder-tui demo``: a Review-Fix run with three scripted fake agents on a sample project,
so a fresh machine shows a whole workflow without API keys or any agent CLI installed.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coder_tui import paths
from coder_tui.cli.common import UsageError, fail, known_profiles, known_templates, user_config
from coder_tui.cli.run import start_run
from coder_tui.core.agents.events import ApprovalPolicy
from coder_tui.core.agents.team import AgentRequest

if TYPE_CHECKING:
    from coder_tui.core.agents.profile import AgentProfile
    from coder_tui.core.templates import Template

DEMO_CALC = """\
def divide(a, b):
    return a / b


def average(values):
    return sum(values) / len(values)
"""
DEMO_TEST = """\
import pytest

from calc import average, divide


def test_divide():
    assert divide(6, 3) == 2


def test_divide_by_zero_is_a_clear_error():
    with pytest.raises(ValueError):
        divide(1, 0)


def test_average_of_nothing():
    with pytest.raises(ValueError):
        average([])
"""
DEMO_FIXED = """\
def divide(a, b):
    if b == 0:
        raise ValueError("cannot divide by zero")
    return a / b


def average(values):
    if not values:
        raise ValueError("cannot average an empty list")
    return sum(values) / len(values)
"""
DEMO_REVIEWER = """\
rules:
  - times: 1
    delay: 3.0
    chunk_delay: 0.02
    reply: |
      I read calc.py and test_calc.py.
      1. divide(a, 0) raises ZeroDivisionError; the tests expect a ValueError with a clear message.
      2. average([]) divides by zero as well; it should raise ValueError too.
      VERDICT: CHANGES_REQUESTED
  - delay: 2.5
    chunk_delay: 0.02
    reply: |
      Both functions now raise ValueError with a clear message, and the tests cover them.
      VERDICT: APPROVE
"""
DEMO_FIXER = f"""\
rules:
  - delay: 3.0
    chunk_delay: 0.02
    write:
      path: calc.py
      content: |
{chr(10).join("        " + line for line in DEMO_FIXED.splitlines())}
    reply: |
      Fixed calc.py: divide() and average() now raise ValueError with a clear message.
      FILES: calc.py
"""
DEMO_CHECKER = """\
rules:
  - delay: 2.5
    chunk_delay: 0.02
    reply: |
      Ran `python -m pytest test_calc.py`: 3 passed.
      Read the diff once more: both guards raise ValueError with a message; nothing else changed.
      Problems found: none
      CHECK: PASS
"""


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="coder-tui demo",
        description="A Review-Fix run with three scripted fake agents on a sample project "
        "(no API keys, nothing installed).",
    )
    parser.add_argument("--headless", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the sample project folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="coder-tui-demo-"))
    detached: list[bool] = []
    try:
        return _demo(work, headless=args.headless, on_detach=lambda: detached.append(True))
    finally:
        if detached:
            print(f"the sample project stays in {work} while its agents run")
        elif not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _demo(work: Path, *, headless: bool, on_detach: Callable[[], None]) -> int:
    """The demo's own agents and policies; config.yaml only gives the TUI its keymap."""
    try:
        keymap = {} if headless else user_config().keymap
        template, inputs, requests, profiles, project = prepare_demo(work)
    except UsageError as exc:
        return fail(str(exc))
    return start_run(
        template,
        inputs,
        requests,
        profiles,
        project,
        headless=headless,
        keymap=keymap,
        on_detach=on_detach,
    )


def prepare_demo(
    work: Path,
) -> tuple[Template, dict[str, str], list[AgentRequest], dict[str, AgentProfile], Path]:
    """The demo's sample project, scripted agent profiles and Review-Fix run request."""
    from coder_tui.core.agents.profile import load_profiles
    from coder_tui.core.templates import resolve_inputs

    project = work / "sample"
    project.mkdir()
    (project / "calc.py").write_text(DEMO_CALC)
    (project / "test_calc.py").write_text(DEMO_TEST)
    agents_dir = project / ".coder-tui" / "agents"
    agents_dir.mkdir(parents=True)
    base = load_profiles()["fake"]
    for role, script in (
        ("reviewer", DEMO_REVIEWER),
        ("fixer", DEMO_FIXER),
        ("checker", DEMO_CHECKER),
    ):
        script_file = work / f"{role}.yaml"
        script_file.write_text(script)
        profile = base.model_copy(
            update={
                "name": f"demo-{role}",
                "title": f"Demo {role}",
                "args": [*base.args, "--script", str(script_file)],
            }
        )
        (agents_dir / f"demo-{role}.yaml").write_text(profile.model_dump_json(indent=2))
    templates = known_templates(paths.project_dir(project))
    profiles = known_profiles(paths.project_dir(project))
    template = templates["review-fix"]
    names = list(template.roles)
    requests = [
        AgentRequest(
            name=role,
            profile=f"demo-{role if role in ('reviewer', 'fixer', 'checker') else 'reviewer'}",
            policy=ApprovalPolicy.APPROVE_EDITS if role == "fixer" else ApprovalPolicy.ASK,
        )
        for role in names
    ]
    task = "Review calc.py and its tests in this folder; fix what the review finds."
    inputs = resolve_inputs(template, {}, task)
    return template, inputs, requests, profiles, project
