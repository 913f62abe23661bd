"""The run command's inputs: --task and --input NAME=VALUE go through resolve_inputs, and every
problem is a usage error that names the flag to pass."""

from __future__ import annotations

import pytest

from coder_tui.cli.common import UsageError
from coder_tui.cli.run import parse_inputs
from coder_tui.core.templates import Template

TEMPLATE = Template.model_validate(
    {
        "name": "mini",
        "inputs": [
            {"name": "task", "description": "What to do"},
            {"name": "lang", "description": "The language"},
            {"name": "base", "required": False, "default": "main"},
        ],
        "roles": {"worker": {"prefer": ["claude"]}},
        "steps": [
            {
                "id": "work",
                "role": "worker",
                "prompt": "{{ inputs.task }} in {{ inputs.lang }} on {{ inputs.base }}",
            }
        ],
    }
)


def test_task_and_inputs_become_the_run_inputs() -> None:
    inputs = parse_inputs(TEMPLATE, "fix it", ["lang=c=99"])  # the value may hold "="
    assert inputs == {"task": "fix it", "lang": "c=99", "base": "main"}
    assert parse_inputs(TEMPLATE, None, ["task=t", "lang=go", "base=dev"]) == {
        "task": "t",
        "lang": "go",
        "base": "dev",
    }


@pytest.mark.parametrize(
    ("task", "raw", "message"),
    [
        (None, ["lang=go"], "template mini needs task: pass --task"),
        ("  ", ["lang=go"], "template mini needs task: pass --task"),
        ("t", [], "template mini needs lang: pass --input lang=..."),
        (
            None,
            [],
            "template mini needs task: pass --task; needs lang: pass --input lang=...",
        ),
        (
            "t",
            ["lang=go", "tsk=x"],
            "template mini has no input tsk (its inputs: base, lang, task)",
        ),
        ("t", ["lang"], "--input 'lang': expected NAME=VALUE"),
        ("t", ["task=u", "lang=go"], "input task is given twice"),
    ],
)
def test_mistakes_name_the_flag(task: str | None, raw: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_inputs(TEMPLATE, task, raw)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("template", "status", "said", "code"),
    [
        ("review-fix", "paused", "run R1 is not finished; go on with: coder-tui resume R1", 1),
        ("", "paused", "session R1 is not finished; go on with: coder-tui resume R1", 0),
        ("review-fix", "succeeded", "", 0),
        ("review-fix", "failed", "", 1),
    ],
)
def test_after_the_tui_closes_a_run_left_mid_way_says_how_to_go_on(
    capsys: pytest.CaptureFixture[str], template: str, status: str, said: str, code: int
) -> None:
    """The TUI prints this for the host's run, whichever way it started: `coder-tui run`, a
    session of agents, or a template picked in the TUI (it runs in the session's own run)."""
    from coder_tui.cli.common import finished
    from coder_tui.core.runs import RunState, RunStatus

    state = RunState(run_id="R1", template=template, status=RunStatus(status))
    assert finished(state) == code
    assert capsys.readouterr().out.strip() == said
