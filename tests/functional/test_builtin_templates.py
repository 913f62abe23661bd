"""Every built-in workflow template, run headless to the end through the real CLI
(``python -m coder_tui run TEMPLATE ... --headless``) with one scripted fake agent per role.

The scripts are in ``tests/template_scripts/<template>/<role>.yaml``, one per role of the
template (a variant of a scenario overrides some of them in ``<template>/<variant>/``). Their
rules match on the prompts the template renders (the task, the inputs, and tokens such as
``[review-1]`` that the previous replies carry), so a template whose prompts stop carrying what
the next agent needs fails here: an unmatched prompt gets the script's ``UNEXPECTED PROMPT``
reply. The scripts make each run go through the template's structure: every loop goes round
twice, parallel branches all reply, arbiters and votes resolve, gates are approved
(``--approve-gates``) and the agents write the files the template asks for (``approve-edits``).

The test parametrizes over the built-in templates as ``load_templates()`` finds them: a new
built-in template without scripts and a ``SCENARIOS`` entry fails.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coder_tui.core.templates import Template, builtin_template_files, load_templates
from tests.conftest import run_coder_tui

SCRIPTS = Path(__file__).resolve().parent.parent / "template_scripts"
UNEXPECTED = "UNEXPECTED PROMPT"

SAMPLE_FILES = {
    "calc.py": "def divide(a, b):\n    return a / b\n\n\ndef average(values):\n"
    "    return sum(values) / len(values)\n",
    "test_calc.py": "from calc import divide\n\n\ndef test_divide():\n"
    "    assert divide(6, 3) == 2\n",
    "README.md": "# calc\n\n`divide(a, b)` divides.\n",
}

PROFILE = """\
name: {name}
command: ["{{python}}", "-m", "coder_tui.fake_agent"]
args: ["--name", "{{agent}}", "--script", "{script}"]
hooks: fake
screen:
  busy: ['esc to interrupt']
  idle: ['\\\\? for shortcuts']
  approval: ['Do you want to create ']
  approval_edit: ['Do you want to create ']
  input_box: '^╭─{{8,}}'
  quiescence: 0.5
session:
  new: ["--session-id", "{{session_id}}"]
  resume: ["--resume", "{{session_id}}"]
approval_keys: {{approve: '1', approve_always: null, deny: "\\e"}}
paste_enter_delay: 0.05
"""


@dataclass(frozen=True)
class Scenario:
    """What one run is given and what its scripts imply.

    ``replies`` lists the replies in channel order as ``step#round``; replies of parallel
    branches, which may come in any order, share one entry separated by ``|``.
    """

    task: str
    replies: list[str]
    step_rounds: dict[str, int]
    inputs: dict[str, str] = field(default_factory=dict)
    writers: tuple[str, ...] = ()  # roles started with --policy ROLE=approve-edits
    gates: tuple[str, ...] = ()  # gate steps, approved with --approve-gates
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step -> some outputs
    files: dict[str, str] = field(default_factory=dict)  # path -> text the file must contain
    variant: str = ""


SCENARIOS: dict[str, Scenario] = {
    "review-fix": Scenario(
        task="the uncommitted changes to calc.py",
        writers=("fixer",),
        replies=["review#1", "fix#1", "review#2", "check#1"],
        step_rounds={"review": 2, "fix": 1, "check": 1},
        outputs={"review": {"verdict": "APPROVE"}, "check": {"check": "PASS"}},
        files={"calc.py": "# fixed by the fixer, round 1"},
    ),
    "build-test": Scenario(
        task="Add slugify(text) that strips accents",
        inputs={"test_command": "pytest -q"},
        writers=("implementer", "tester"),
        replies=["implement#1", "test#1", "implement#2", "test#2"],
        step_rounds={"implement": 2, "test": 2},
        outputs={"test": {"tests": "PASS"}},
        files={"slugify.py": "# implementer, round 2", "tests/test_slugify.py": "# tester"},
    ),
    "ci-fix": Scenario(
        task="everything in CI",
        inputs={"checks": "ruff check . && pytest -q"},
        writers=("fixer",),
        replies=["fix#1", "check#1", "fix#2", "check#2"],
        step_rounds={"fix": 2, "check": 2},
        outputs={"check": {"checks": "PASS"}},
        files={"calc.py": "# ci-fix, round 2"},
    ),
    "consensus": Scenario(
        task="Is divide() thread-safe?",
        replies=["answers.answer_a#1 | answers.answer_b#1 | answers.answer_c#1"],
        step_rounds={"answers": 1},
        outputs={"answers": {"answer": "yes"}, "answer_b": {"answer": "Yes"}},
    ),
    "debate": Scenario(
        task="Which cache should calc use?",
        inputs={"record_file": "docs/adr/0001-cache.md"},
        writers=("judge",),
        replies=[
            *("propose#1", "critique#1", "resolve#1"),
            *("propose#2", "critique#2", "resolve#2"),
        ],
        step_rounds={"propose": 2, "critique": 2, "resolve": 2},
        outputs={"resolve": {"resolution": "DECIDED", "decision": "use a bounded lru_cache"}},
        files={"docs/adr/0001-cache.md": "(judge, round 2)"},
    ),
    "docs-update": Scenario(
        task="the new --precision flag",
        inputs={"docs": "README.md and docs/"},
        writers=("writer",),
        replies=["update#1", "check#1", "update#2", "check#2"],
        step_rounds={"update": 2, "check": 2},
        outputs={"check": {"docs": "ACCURATE"}},
        files={"docs/usage.md": "(writer, round 2)"},
    ),
    "investigator-implementer": Scenario(
        task="divide(1, 0) crashes with ZeroDivisionError",
        inputs={"reproduce": "python -c 'import calc; calc.divide(1, 0)'"},
        writers=("implementer",),
        replies=["investigate#1", "implement#1", "verify#1", "implement#2", "verify#2"],
        step_rounds={"investigate": 1, "implement": 2, "verify": 2},
        outputs={
            "investigate": {
                "root_cause": "divide() does not check for a zero divisor",
                "location": "calc.py:2",
            },
            "verify": {"verified": "FIXED"},
        },
        files={
            "calc.py": "# implementer, round 1",
            "tests/test_divide_regression.py": "# implementer, round 2",
        },
    ),
    "parallel-specialists": Scenario(
        task="the uncommitted changes",
        replies=[
            "specialists.security#1 | specialists.performance#1 | specialists.readability#1",
            "merge#1",
        ],
        step_rounds={"specialists": 1, "merge": 1},
        outputs={
            "security": {"findings": "2"},
            "performance": {"findings": "1"},
            "readability": {"findings": "0"},
            "merge": {"verdict": "CHANGES_REQUESTED"},
        },
    ),
    "plan-compare": Scenario(
        task="Add a --precision option",
        inputs={"plan_file": "PLAN.md"},
        writers=("lead",),
        replies=["plans.plan_a#1 | plans.plan_b#1", "plans.arbiter#1"],
        step_rounds={"plans": 1},
        files={"PLAN.md": "# Final plan (lead)"},
    ),
    "plan-implement-review": Scenario(
        task="Add CSV export",
        inputs={"spec_file": "docs/specs/export.md"},
        writers=("architect", "implementer"),
        gates=("approve_spec",),
        replies=["research#1", "spec#1", "implement#1", "review#1", "fix#1", "review#2"],
        step_rounds={
            "research": 1,
            "spec": 1,
            "approve_spec": 1,
            "implement": 1,
            "review": 2,
            "fix": 1,
        },
        outputs={"approve_spec": {"approved": "yes"}, "review": {"verdict": "APPROVE"}},
        files={"docs/specs/export.md": "(architect)", "export.py": "fix round 1"},
    ),
    "pr-description": Scenario(
        task="Fixes #12: a clear error for division by zero",
        inputs={"output_file": "PR_DESCRIPTION.md"},
        writers=("writer",),
        replies=["write#1", "check#1", "write#2", "check#2"],
        step_rounds={"write": 2, "check": 2},
        outputs={"check": {"description": "ACCURATE"}},
        files={"PR_DESCRIPTION.md": "(writer, round 2)"},
    ),
    "refactor-sweep": Scenario(
        task="rename divide to safe_divide",
        inputs={"test_command": "pytest -q"},
        writers=("implementer",),
        replies=["plan#1", "apply#1", "verify#1", "apply#2", "verify#2"],
        step_rounds={"plan": 1, "apply": 2, "verify": 2},
        outputs={"plan": {"occurrences": "3"}, "apply": {"tests": "PASS"}},
        files={"calc.py": "# implementer, round 2"},
    ),
    "test-generation": Scenario(
        task="calc.py",
        writers=("writer",),
        replies=["write#1", "critique#1", "write#2", "critique#2"],
        step_rounds={"write": 2, "critique": 2},
        outputs={"critique": {"verdict": "ACCEPT"}},
        files={"tests/test_calc_generated.py": "# writer, round 2"},
    ),
    "bug-triage": Scenario(
        task="average([]) crashes with ZeroDivisionError instead of a clear error",
        writers=("reproducer",),
        replies=["reproduce#1", "triage#1"],
        step_rounds={"reproduce": 1, "triage": 1},
        outputs={
            "reproduce": {
                "reproduced": "CONFIRMED",
                "test": "tests/test_bug_average_empty.py::test_average_of_empty_list",
            },
            "triage": {"severity": "MEDIUM", "component": "calc"},
        },
        files={"tests/test_bug_average_empty.py": "# reproducer"},
    ),
}

# Other paths through some templates (scripts in tests/template_scripts/<template>/<variant>/).
VARIANTS: dict[str, tuple[str, Scenario]] = {
    # The reviewer never approves: 3 fix rounds, then on_limit goto:decide, the gate approved.
    "review-fix/limit": (
        "review-fix",
        Scenario(
            variant="limit",
            task="the uncommitted changes to calc.py",
            writers=("fixer",),
            gates=("decide",),
            replies=[
                *("review#1", "fix#1", "review#2", "fix#2"),
                *("review#3", "fix#3", "review#4"),
            ],
            step_rounds={"review": 4, "fix": 3, "decide": 1},
            outputs={"review": {"verdict": "CHANGES_REQUESTED"}, "decide": {"approved": "yes"}},
            files={"calc.py": "(limit variant)"},
        ),
    ),
    # The final check fails after the approval: back to the fixer, reviewed and checked again.
    "review-fix/check-fails": (
        "review-fix",
        Scenario(
            variant="check-fails",
            task="the uncommitted changes to calc.py",
            writers=("fixer",),
            replies=[
                *("review#1", "fix#1", "review#2", "check#1"),
                *("fix#2", "review#3", "check#2"),
            ],
            step_rounds={"review": 3, "fix": 2, "check": 2},
            outputs={"check": {"check": "PASS"}},
            files={"calc.py": "# fixer, fix round 2 (after the failed check)"},
        ),
    ),
    # Three different answers: no majority, the arbiter decides.
    "consensus/split": (
        "consensus",
        Scenario(
            variant="split",
            task="Is divide() thread-safe?",
            replies=["answers.answer_a#1 | answers.answer_b#1 | answers.answer_c#1", "arbitrate#1"],
            step_rounds={"answers": 1, "arbitrate": 1},
            outputs={"arbitrate": {"answer": "3"}},
        ),
    ),
    # "no", "Yes", "yes": two of three agree ignoring case, which the template's rule says ends
    # the run without the arbiter.
    "consensus/case-order": (
        "consensus",
        Scenario(
            variant="case-order",
            task="Is divide() thread-safe?",
            replies=["answers.answer_a#1 | answers.answer_b#1 | answers.answer_c#1"],
            step_rounds={"answers": 1},
        ),
    ),
}


def builtin_templates() -> dict[str, Template]:
    """The built-in templates as load_templates() finds them (user and project templates,
    which could override one, are left out: their source is not a built-in file)."""
    builtin_files = {Path(str(entry)).resolve() for entry in builtin_template_files()}
    return {
        name: template
        for name, template in load_templates().items()
        if template.source is not None and Path(template.source).resolve() in builtin_files
    }


BUILTIN = builtin_templates()


# --- running a scenario ------------------------------------------------------------------------


def write_project(tmp_path: Path, template: Template, variant: str) -> tuple[Path, list[str]]:
    """The sample project, with one fake-agent profile per role in its .coder-tui folder; returns
    the project and the --agents entries (ROLE=PROFILE)."""
    work = tmp_path / "project"
    agents_dir = work / ".coder-tui" / "agents"
    agents_dir.mkdir(parents=True)
    for name, text in SAMPLE_FILES.items():
        (work / name).write_text(text)
    agents = []
    for role in template.roles:
        script = SCRIPTS / template.name / variant / f"{role}.yaml"
        if not variant or not script.is_file():
            script = SCRIPTS / template.name / f"{role}.yaml"
        profile = f"{template.name}-{role}".replace("_", "-")
        (agents_dir / f"{profile}.yaml").write_text(PROFILE.format(name=profile, script=script))
        agents.append(f"{role}={profile}")
    return work, agents


def run_args(template: Template, scenario: Scenario, agents: list[str]) -> list[str]:
    args = ["run", template.name, "--task", scenario.task, "--headless"]
    args += ["--agents", ",".join(agents)]
    for name, value in scenario.inputs.items():
        args += ["--input", f"{name}={value}"]
    for role in scenario.writers:
        args += ["--policy", f"{role}=approve-edits"]
    if scenario.gates:
        args.append("--approve-gates")
    return args


def only_run_dir() -> Path:
    runs = Path(os.environ["CODER_TUI_HOME"]) / "state" / "runs"
    (run_dir,) = runs.iterdir()
    return run_dir


def channel_of(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "channel.jsonl").read_text().splitlines()]


def check_channel(messages: list[dict[str, Any]], expected: list[str]) -> None:
    """Dense seq, no key twice, one reply per (step, round) keyed by it, in the expected order."""
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    twice = [key for key, n in Counter(m["key"] for m in messages if m["key"]).items() if n > 1]
    assert not twice, f"posted twice: {twice}"
    replies = [m for m in messages if m["kind"] == "reply"]
    for reply in replies:
        assert reply["key"] == f"{reply['step']}:{reply['round']}:reply", reply
        assert UNEXPECTED not in reply["text"], f"no script rule matched: {reply}"
    got = [f"{m['step']}#{m['round']}" for m in replies]
    want_flat = [slot.strip() for entry in expected for slot in entry.split("|")]
    assert sorted(got) == sorted(want_flat), f"replies {got}, expected {expected}"
    at = 0
    for entry in expected:  # parallel siblings in any order, entries in this order
        slot = {s.strip() for s in entry.split("|")}
        assert set(got[at : at + len(slot)]) == slot, f"replies {got}, expected {expected}"
        at += len(slot)
    # System posts other than approval records (asked, answered by policy) are failures.
    failures = [
        m["text"] for m in messages if m["kind"] == "system" and "approval" not in m["meta"]
    ]
    assert not failures, failures


def run_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, scenario: Scenario
) -> dict[str, Any]:
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-agent-state"))
    template = BUILTIN[name]
    work, agents = write_project(tmp_path, template, scenario.variant)
    done = run_coder_tui(*run_args(template, scenario, agents), cwd=work, timeout=90)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    run_dir = only_run_dir()
    state = json.loads((run_dir / "run.json").read_text())
    assert state["template"] == name
    assert state["status"] == "succeeded", state["outcome"]
    assert state["roles"] == {role: role for role in template.roles}
    messages = channel_of(run_dir)
    check_channel(messages, scenario.replies)
    assert state["step_rounds"] == scenario.step_rounds
    for step, outputs in scenario.outputs.items():
        got = state["step_results"][step]["outputs"]
        assert {k: got.get(k) for k in outputs} == outputs, f"{step}: {got}"
    answers = [m for m in messages if m["key"] and m["key"].endswith(":gate:answer")]
    assert [(m["step"], m["meta"]["approved"]) for m in answers] == [
        (gate, True) for gate in scenario.gates
    ]
    for path, text in scenario.files.items():
        assert (work / path).is_file(), f"{path} was not written"
        assert text in (work / path).read_text(), f"{path}: {(work / path).read_text()!r}"
    return state


# --- the tests ---------------------------------------------------------------------------------


def test_every_builtin_template_is_found() -> None:
    names = {Path(str(entry)).stem for entry in builtin_template_files()}
    assert len(names) >= 14
    assert set(BUILTIN) == names


def test_every_scenario_is_a_builtin_template() -> None:
    assert set(SCENARIOS) <= set(BUILTIN), "a scenario for a template that no longer exists"
    for variant, (name, scenario) in VARIANTS.items():
        assert name in BUILTIN and variant == f"{name}/{scenario.variant}"
        assert (SCRIPTS / name / scenario.variant).is_dir()


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_template_runs_to_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    template = BUILTIN[name]
    folder = SCRIPTS / name
    scenario = SCENARIOS.get(name)
    assert scenario is not None and folder.is_dir(), (
        f"built-in template {name} has no scenario: add one script per role in "
        f"{folder}/<role>.yaml and an entry in SCENARIOS"
    )
    scripts = {p.stem for p in folder.glob("*.yaml")}
    assert scripts == set(template.roles), f"scripts {sorted(scripts)} != roles {template.roles}"
    assert set(scenario.writers) <= set(template.roles)
    assert set(scenario.step_rounds) >= set(scenario.gates)
    run_scenario(tmp_path, monkeypatch, name, scenario)
    for loop in template.loops:
        if not any(step in scenario.gates for step in loop.steps):
            rounds = [scenario.step_rounds.get(step, 0) for step in loop.steps]
            assert max(rounds) >= 2, f"the scripts do not take loop {loop.name} round twice"


@pytest.mark.parametrize(
    "variant",
    [v for v in VARIANTS],
)
def test_builtin_template_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    name, scenario = VARIANTS[variant]
    scripts = {p.stem for p in (SCRIPTS / name / scenario.variant).glob("*.yaml")}
    assert scripts <= set(BUILTIN[name].roles)
    run_scenario(tmp_path, monkeypatch, name, scenario)


def test_agents_named_after_roles_are_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-agent-state"))
    template = BUILTIN["review-fix"]
    work, agents = write_project(tmp_path, template, "")
    # Only agents named after the roles: no CLI from the roles' preference lists is launched.
    done = run_coder_tui(*run_args(template, SCENARIOS["review-fix"], agents), cwd=work, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
