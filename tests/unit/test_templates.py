"""Workflow templates: the built-ins load, every mistake a user can make is refused with
file:line: field, prompts and conditions run sandboxed, replies yield outputs, roles resolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError
from pydantic import ValidationError

from coder_tui import paths
from coder_tui.core.templates import (
    InputError,
    LoopTracker,
    OutputSpec,
    Template,
    TemplateError,
    assign_roles,
    builtin_template_files,
    eval_condition,
    extract_outputs,
    fill_roles,
    load_template_file,
    load_templates,
    loading,
    render_prompt,
    resolve_inputs,
    resolve_roles,
    vote,
)
from coder_tui.core.yamlfile import ConfigError

# A small valid template; the error tests change one thing in it. Line numbers are 1-based.
BASE = """\
name: mini
title: Mini
category: review
description: A small template.
inputs:
  - name: task
    description: What to do
roles:
  reviewer:
    prefer: [claude, gemini]
  fixer:
    prefer: [codex]
    fallback: [claude]
steps:
  - id: review
    role: reviewer
    outputs:
      verdict: {marker: "VERDICT:", choices: [APPROVE, CHANGES_REQUESTED]}
    prompt: |
      Review {{ inputs.task }}.
      {% if steps.fix %}Fixer said: {{ steps.fix.reply }}{% endif %}
    next:
      - when: "outputs.verdict == 'APPROVE'"
        goto: end
      - goto: fix
  - id: fix
    role: fixer
    prompt: "Fix: {{ steps.review.reply }}"
    next: [{goto: review}]
loops:
  - name: review-loop
    steps: [fix, review]
    max_rounds: 3
"""

CONTEXT: dict[str, Any] = {
    "inputs": {"task": "the diff"},
    "steps": {},
    "round": 1,
    "loop": None,
    "agent": "claude",
    "channel_guidance": "",
}


def write(tmp_path: Path, text: str, name: str = "mini.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def variant(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_template_file(path)
    return [str(problem) for problem in caught.value.problems]


# --------------------------------------------------------------------------------------------
# Built-ins


def test_builtin_templates_load_and_validate() -> None:
    files = builtin_template_files()
    names = [load_template_file(Path(str(entry))).name for entry in files]
    assert len(names) >= 10
    assert len(set(names)) == len(names)
    assert names == [Path(entry.name).stem for entry in files]  # file named after template
    templates = load_templates()
    assert set(names) <= set(templates)
    for template in templates.values():
        task = [spec for spec in template.inputs if spec.name == "task"]
        assert task and task[0].required, template.name
        assert template.title and template.description.strip(), template.name
        for role in template.roles.values():
            assert set(role.prefer) <= {"claude", "codex", "gemini"}, template.name
        assert template.source is not None and template.source.name == f"{template.name}.yaml"


EXPECTED_BUILTINS = {
    "review-fix",
    "build-test",
    "parallel-specialists",
    "investigator-implementer",
    "debate",
    "plan-implement-review",
    "consensus",
    "test-generation",
    "docs-update",
    "refactor-sweep",
}


def test_the_required_builtins_exist() -> None:
    assert set(load_templates()) >= EXPECTED_BUILTINS


def _texts(template: Template) -> list[tuple[str, str, dict[str, OutputSpec]]]:
    """(label, jinja2 text, outputs taken from its reply) of every prompt and gate message."""
    found: list[tuple[str, str, dict[str, OutputSpec]]] = []
    for step in template.steps:
        if step.prompt is not None:
            found.append((step.id, step.prompt, step.outputs))
        if step.gate is not None:
            found.append((f"{step.id}.gate", step.gate.message, {}))
        if step.parallel is not None:
            found += [(b.id, b.prompt, b.outputs) for b in step.parallel.branches]
            if step.parallel.arbiter is not None:
                arbiter = step.parallel.arbiter
                found.append((f"{step.id}.arbiter", arbiter.prompt, arbiter.outputs))
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED_BUILTINS | {"ci-fix", "plan-compare"}))
def test_builtin_prompts_render_and_name_their_markers(name: str) -> None:
    template = load_templates()[name]
    ids = [s.id for s in template.steps] + [
        b.id for s in template.steps if s.parallel for b in s.parallel.branches
    ]
    ran = {i: {"reply": f"<{i} reply>", "outputs": {}, "round": 1} for i in ids}
    for steps, round_ in (({}, 1), (ran, 2)):
        context = {
            **CONTEXT,
            "inputs": {spec.name: f"<{spec.name}>" for spec in template.inputs},
            "steps": steps,
            "round": round_,
            "channel_guidance": "<guidance>" if steps else "",
            "branches": [{"id": "a", "agent": "claude", "reply": "<a>", "outputs": {}}],
        }
        for label, text, outputs in _texts(template):
            rendered = render_prompt(text, context)
            assert "{{" not in rendered and "{%" not in rendered, label
            if steps:
                assert "<guidance>" in rendered or label.endswith(".gate"), label
            # The reply lines the template branches on are spelled out in the prompt.
            for spec in outputs.values():
                if spec.marker is not None:
                    assert spec.marker in rendered, (label, spec.marker)
                    for choice in spec.choices or []:
                        assert f"{spec.marker} {choice}" in rendered, (label, choice)


def test_every_builtin_cycle_is_bounded_and_reaches_an_end() -> None:
    for template in load_templates().values():
        targets = {rule.goto for step in template.steps for rule in step.next or []}
        falls_off = template.steps[-1].next is None or any(
            rule.when is not None for rule in template.steps[-1].next or []
        )
        assert "end" in targets or falls_off, template.name
        assert template.limits.max_hops <= 20, template.name


# --------------------------------------------------------------------------------------------
# Errors, each with file:line: field


def test_the_base_template_is_valid(tmp_path: Path) -> None:
    template = load_template_file(write(tmp_path, BASE))
    assert template.name == "mini" and template.first_step_id() == "review"
    assert template.source == tmp_path / "mini.yaml"
    assert template.loop_of("fix") is template.loops[0] and template.loop_of("nope") is None


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, variant("category: review", "category: review: oops"))
    assert problems_of(path) == [f"{path}:3: YAML syntax: mapping values are not allowed here"]


def test_unknown_field(tmp_path: Path) -> None:
    path = write(tmp_path, variant("    role: fixer\n", "    role: fixer\n    colour: red\n"))
    assert problems_of(path) == [f"{path}:28: steps.1.colour: unknown field"]


def test_source_cannot_be_set_by_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, variant("title: Mini\n", "title: Mini\nsource: /etc/passwd\n"))
    assert problems_of(path) == [f"{path}:3: source: unknown field"]


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, variant("    max_rounds: 3\n", ""))
    assert problems_of(path) == [f"{path}:31: loops.0.max_rounds: required field is missing"]


def test_unknown_role(tmp_path: Path) -> None:
    path = write(tmp_path, variant("role: fixer", "role: fixr"))
    problems = problems_of(path)
    assert f"{path}:27: steps.1.role: unknown role 'fixr'; roles are: reviewer, fixer" in problems
    assert f"{path}:11: roles.fixer: role 'fixer' is not used by any step" in problems


def test_unknown_role_in_a_branch_and_an_arbiter(tmp_path: Path) -> None:
    text = variant(
        "loops:",
        """\
  - id: group
    parallel:
      join: arbiter
      branches:
        - {id: one, role: reviewer, prompt: "a"}
        - {id: two, role: nobody, prompt: "b"}
      arbiter: {role: boss, prompt: "decide"}
loops:""",
    )
    path = write(tmp_path, text)
    problems = problems_of(path)
    assert any(p.startswith(f"{path}:35: steps.2.parallel.branches.1.role: ") for p in problems)
    assert any(p.startswith(f"{path}:36: steps.2.parallel.arbiter.role: ") for p in problems)


def test_goto_pointing_nowhere(tmp_path: Path) -> None:
    path = write(tmp_path, variant("goto: fix", "goto: fx"))
    assert problems_of(path) == [
        f"{path}:25: steps.0.next.1.goto: 'fx' is not a step; expected one of: review, fix, "
        "end, fail"
    ]


def test_start_and_loop_steps_pointing_nowhere(tmp_path: Path) -> None:
    text = variant("steps:\n  - id: review", "start: revue\nsteps:\n  - id: review")
    text = text.replace("steps: [fix, review]", "steps: [fix, reviw]")
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:14: start: 'revue' is not a step; expected one of: review, fix",
        f"{path}:33: loops.0.steps.1: 'reviw' is not a step; expected one of: review, fix",
    ]


def test_loop_without_a_limit(tmp_path: Path) -> None:
    path = write(tmp_path, BASE[: BASE.index("loops:")])
    assert problems_of(path) == [
        f"{path}:29: steps.1.next.0.goto: the cycle review → fix → review has no limit: add a "
        "`loops:` entry with steps: [review, fix] and max_rounds"
    ]


def test_implicit_fall_through_cycle_and_self_loop(tmp_path: Path) -> None:
    # fix has no `next`: it falls through to `again`, which jumps back to itself and to fix.
    text = BASE[: BASE.index("    next: [{goto: review}]")] + (
        "  - id: again\n"
        "    role: fixer\n"
        "    prompt: x\n"
        "    next:\n"
        "      - {when: 'round < 2', goto: again}\n"
        "      - {goto: fix}\n"
    )
    path = write(tmp_path, text)
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:34: steps.2.next.1.goto: the cycle fix → again → fix ")
    # Bounding the outer cycle is not enough: the self-loop avoids the loop's first step.
    bounded_outer = text + "loops:\n  - {name: outer, steps: [fix, again], max_rounds: 2}\n"
    problems = problems_of(write(tmp_path, bounded_outer))
    assert len(problems) == 1 and "never passes the first step of loop 'outer'" in problems[0]
    both = bounded_outer + "  - {name: inner, steps: [again], max_rounds: 2}\n"
    assert load_template_file(write(tmp_path, both)).loop_of("again").name == "inner"  # type: ignore[union-attr]


def test_loop_head_must_be_on_the_cycle(tmp_path: Path) -> None:
    text = variant("steps: [fix, review]", "steps: [first, fix, review]")
    text = text.replace(
        "steps:\n  - id: review", "steps:\n  - {id: first, role: fixer, prompt: go}\n  - id: review"
    )
    problems = problems_of(write(tmp_path, text))
    assert len(problems) == 1 and "list one of [review, fix] first" in problems[0]


def test_on_limit_must_leave_the_loop(tmp_path: Path) -> None:
    path = write(
        tmp_path, variant("    max_rounds: 3\n", "    max_rounds: 3\n    on_limit: goto:review\n")
    )
    assert problems_of(path) == [
        f"{path}:34: loops.0.on_limit: goto:review stays inside the loop; on_limit must leave it "
        "(a step outside the loop, end or fail)"
    ]


def test_bad_jinja_syntax_in_a_block_prompt_points_at_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, variant("{{ steps.fix.reply }}", "{{ steps.fix.reply }"))
    assert problems_of(path) == [
        f"{path}:21: steps.0.prompt: jinja2 template syntax error: unexpected '}}'"
    ]


def test_bad_jinja_syntax_in_a_condition_and_a_gate(tmp_path: Path) -> None:
    text = variant("outputs.verdict == 'APPROVE'", "outputs.verdict = 'APPROVE'")
    text = text.replace("loops:", "  - id: ok\n    gate:\n      message: 'Apply {% if %}?'\nloops:")
    path = write(tmp_path, text)
    problems = problems_of(path)
    assert problems[0].startswith(f"{path}:23: steps.0.next.0.when: jinja2 expression syntax ")
    assert problems[1].startswith(f"{path}:32: steps.2.gate.message: jinja2 template syntax ")
    assert len(problems) == 2


def test_references_to_things_that_do_not_exist(tmp_path: Path) -> None:
    text = variant("Review {{ inputs.task }}.", "Review {{ inputs.tsk }} {{ taks }}.")
    text = text.replace("Fix: {{ steps.review.reply }}", "Fix: {{ steps.reveiw.reply }}")
    text = text.replace("outputs.verdict ==", "steps.review.outputs.verdit ==")
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:20: steps.0.prompt: unknown variable 'taks'; available here: agent, "
        "channel_guidance, inputs, loop, round, steps",
        f"{path}:20: steps.0.prompt: unknown input 'tsk'; inputs are: task",
        f"{path}:23: steps.0.next.0.when: step 'review' has no output 'verdit'; its outputs "
        "are: verdict",
        f"{path}:28: steps.1.prompt: unknown step 'reveiw'; steps are: review, fix",
    ]


def test_duplicate_ids(tmp_path: Path) -> None:
    text = variant(
        "loops:",
        "  - id: group\n    parallel:\n      branches:\n"
        "        - {id: fix, role: reviewer, prompt: a}\n"
        "        - {id: two, role: reviewer, prompt: b}\nloops:",
    )
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:33: steps.2.parallel.branches.0.id: duplicate step id 'fix'"
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            '    role: fixer\n    prompt: "Fix: {{ steps.review.reply }}"\n',
            "",
            "step 'fix' needs exactly one of: role + prompt (an agent's turn), parallel "
            "(branches), gate (a human approval); it has none",
        ),
        (
            '    prompt: "Fix: {{ steps.review.reply }}"\n',
            "",
            "step 'fix' has a role but no prompt",
        ),
        ("    role: fixer\n", "", "step 'fix' has a prompt but no role"),
        (
            "    role: fixer\n",
            "    role: fixer\n    gate: {message: hi}\n",
            "step 'fix' needs exactly one of: role + prompt (an agent's turn), parallel "
            "(branches), gate (a human approval); it has role + prompt and gate",
        ),
    ],
)
def test_a_step_is_exactly_one_kind(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = write(tmp_path, variant(old, new))
    problems = problems_of(path)
    assert f"{path}:26: steps.1: {message}" in problems


def test_output_and_join_settings(tmp_path: Path) -> None:
    text = variant(
        'verdict: {marker: "VERDICT:", choices: [APPROVE, CHANGES_REQUESTED]}',
        'verdict: {marker: "VERDICT:", regex: "x"}',
    )
    text = text.replace(
        "loops:",
        "  - id: group\n    parallel:\n      join: vote\n      branches:\n"
        "        - {id: one, role: reviewer, prompt: a, outputs: {answer: {marker: 'A:'}}}\n"
        "        - {id: two, role: reviewer, prompt: b}\nloops:",
    )
    path = write(tmp_path, text)
    # Field by field first (pydantic); the cross-field checks run on a structurally valid file.
    assert problems_of(path) == [
        f"{path}:18: steps.0.outputs.verdict: give exactly one of marker or regex"
    ]
    text = text.replace(', regex: "x"', "")
    assert problems_of(write(tmp_path, text)) == [
        f"{path}:32: steps.2.parallel.join: join: vote needs vote_output (the output voted on)"
    ]
    text = text.replace("join: vote\n", "join: vote\n      vote_output: answer\n")
    assert problems_of(write(tmp_path, text)) == [
        f"{path}:33: steps.2.parallel.vote_output: every branch must have the output "
        "'answer'; missing in: two"
    ]


def test_programmatic_templates_are_checked_too() -> None:
    import yaml

    data = yaml.safe_load(BASE[: BASE.index("loops:")])
    with pytest.raises(ValidationError) as caught:
        Template.model_validate(data)
    assert "steps.1.next.0.goto: the cycle review → fix → review has no limit" in str(caught.value)
    ok = Template.model_validate(yaml.safe_load(BASE))
    assert ok.source is None and "source" not in ok.model_dump()


# --------------------------------------------------------------------------------------------
# Loading from the three places


def _user_template(folder: Path, name: str, title: str, file: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = BASE.replace("name: mini", f"name: {name}").replace("title: Mini", f"title: {title}")
    return write(folder, text, file or f"{name}.yaml")


def test_user_and_project_templates_override_builtins_by_name(tmp_path: Path) -> None:
    user = paths.config_dir() / "templates"
    project = tmp_path / "proj" / ".coder-tui"
    _user_template(user, "review-fix", "Mine")
    _user_template(user, "build-test", "User's build")
    _user_template(project / "templates", "build-test", "Project's build", "other.yml")
    templates = load_templates(project=project)
    assert templates["review-fix"].title == "Mine"
    assert templates["review-fix"].source == user / "review-fix.yaml"
    assert templates["build-test"].title == "Project's build"
    assert templates["debate"].title == "Debate → Decision"  # untouched built-in
    assert load_templates(project=tmp_path / "none")["build-test"].title == "User's build"


def test_project_folder_found_from_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "proj"
    _user_template(project / ".coder-tui" / "templates", "mine", "From the project")
    (project / "src").mkdir()
    monkeypatch.chdir(project / "src")
    assert load_templates()["mine"].title == "From the project"


def test_every_broken_file_is_reported_at_once(tmp_path: Path) -> None:
    user = paths.config_dir() / "templates"
    user.mkdir(parents=True)
    one = write(user, variant("goto: fix", "goto: fx"), "one.yaml")
    two = write(user, variant("name: mini", "name: Bad_Name"), "two.yaml")
    _user_template(user, "mini", "first", "a.yaml")
    three = _user_template(user, "mini", "second", "b.yaml")
    with pytest.raises(ConfigError) as caught:
        load_templates()
    text = str(caught.value)
    assert f"{one}:25: steps.0.next.1.goto: 'fx' is not a step" in text
    assert f"{two}:1: name: String should match pattern" in text
    assert f"{three}:1: name: template 'mini' is also defined in {user / 'a.yaml'}" in text


def test_packaged_builtins_are_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = tmp_path / "pkg" / "data" / "templates"
    _user_template(packaged, "only-packaged", "Packaged")
    monkeypatch.setattr(loading.resources, "files", lambda _package: tmp_path / "pkg")
    assert [entry.name for entry in builtin_template_files()] == ["only-packaged.yaml"]
    assert set(load_templates()) == {"only-packaged"}


# --------------------------------------------------------------------------------------------
# Rendering and conditions


def test_render_prompt_with_variables() -> None:
    text = "Task: {{ inputs.task }} (round {{ round }}, {{ agent }}){% if loop %} in X{% endif %}"
    assert render_prompt(text, CONTEXT) == "Task: the diff (round 1, claude)"
    context = {**CONTEXT, "steps": {"fix": {"reply": "done", "outputs": {"n": "2"}}}, "loop": "l"}
    assert render_prompt("{{ steps.fix.reply }}/{{ steps.fix.outputs.n }}", context) == "done/2"
    assert render_prompt("x {{ loop }}", context) == "x l"


def test_a_step_that_has_not_run_is_empty_and_false() -> None:
    text = "[{{ steps.fix.reply }}][{{ steps.fix.outputs.verdict }}]"
    text += "{% if steps.fix %}ran{% else %}not yet{% endif %}"
    assert render_prompt(text, CONTEXT) == "[][]not yet"
    assert eval_condition("steps.fix", CONTEXT) is False
    assert eval_condition("not steps.fix.outputs.verdict", CONTEXT) is True


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__class__ }}",
        "{{ render_prompt.__globals__ }}",
        "{{ [].append(1) }}",  # immutable sandbox: no mutating methods
    ],
)
def test_the_sandbox_blocks_unsafe_access(text: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_prompt(text, {**CONTEXT, "render_prompt": render_prompt})
    assert isinstance(caught.value.__cause__, SecurityError)
    assert "<class" not in str(caught.value)


def test_the_sandbox_exposes_nothing_through_bound_methods() -> None:
    # Not an error (the attribute does not exist on the wrapper), but nothing is exposed.
    assert render_prompt("[{{ inputs.task.format.__self__ }}]", CONTEXT) == "[]"
    # A mutating method's name on a mapping is a missing key, and calling it still fails.
    assert render_prompt("[{{ steps.update }}]", CONTEXT) == "[]"
    with pytest.raises(TemplateError):
        render_prompt("{{ steps.update({'x': 1}) }}", CONTEXT)
    # A step called like a dict method is the step.
    context = {**CONTEXT, "steps": {"update": {"reply": "docs done"}}}
    assert render_prompt("{{ steps.update.reply }}", context) == "docs done"


def test_unsafe_access_in_a_condition_raises() -> None:
    with pytest.raises(TemplateError) as caught:
        eval_condition("''.__class__", CONTEXT)
    assert isinstance(caught.value.__cause__, SecurityError)


def test_there_is_no_eval_or_import() -> None:
    for text in ("{{ eval('1+1') }}", "{{ __import__('os').getcwd() }}", "{{ exec('x=1') }}"):
        with pytest.raises(TemplateError):
            render_prompt(text, CONTEXT)
    with pytest.raises(TemplateError):
        eval_condition("eval('1')", CONTEXT)


def test_eval_condition() -> None:
    context = {**CONTEXT, "outputs": {"verdict": "APPROVE"}, "gate": {"approved": False}}
    assert eval_condition("outputs.verdict == 'APPROVE'", context) is True
    assert eval_condition("outputs.verdict == 'CHANGES_REQUESTED'", context) is False
    assert eval_condition("outputs.missing == 'x'", context) is False
    assert eval_condition("gate.approved", context) is False
    assert eval_condition("round < 2 and inputs.task | length > 3", context) is True
    with pytest.raises(TemplateError):
        eval_condition("outputs.verdict ==", context)


def test_next_step_routing() -> None:
    import yaml

    template = Template.model_validate(yaml.safe_load(BASE))
    approve = {**CONTEXT, "outputs": {"verdict": "APPROVE"}}
    assert template.next_step_id("review", approve) == "end"
    assert template.next_step_id("review", {**CONTEXT, "outputs": {}}) == "fix"
    assert template.next_step_id("fix", CONTEXT) == "review"
    assert template.following("fix") == "end"
    data = yaml.safe_load(BASE)
    data["steps"][0]["next"].pop()  # only a conditional rule left
    data["steps"][1].pop("next")  # falls through to the end
    data.pop("loops")
    template = Template.model_validate(data)
    assert template.next_step_id("fix", CONTEXT) == "end"
    with pytest.raises(TemplateError, match="no `next` rule matched"):
        template.next_step_id("review", {**CONTEXT, "outputs": {}})


def inputs_template(*extra: dict[str, Any]) -> Template:
    """BASE (its required ``task``: "What to do") with ``extra`` inputs after it."""
    import yaml

    data = yaml.safe_load(BASE)
    data["inputs"] += extra
    return Template.model_validate(data)


OPTIONAL_INPUTS = (
    {"name": "base", "required": False, "default": "main"},
    {"name": "note", "required": False},
)


def test_resolve_inputs_takes_defaults_for_what_is_empty_or_not_given() -> None:
    template = inputs_template(*OPTIONAL_INPUTS)
    assert resolve_inputs(template, {"task": "x"}) == {"task": "x", "base": "main", "note": ""}
    given = {"note": "n", "base": " ", "task": " x "}  # values are kept as given, unless blank
    resolved = resolve_inputs(template, given)
    assert resolved == {"task": " x ", "base": "main", "note": "n"}
    assert list(resolved) == ["task", "base", "note"]  # the template's order
    assert resolve_inputs(template, {"task": "x", "base": "dev"})["base"] == "dev"
    # A default also satisfies a required input.
    required = inputs_template({"name": "lang", "default": "python"})
    assert resolve_inputs(required, {"task": "x"})["lang"] == "python"


def test_resolve_inputs_names_a_missing_required_input() -> None:
    template = inputs_template(*OPTIONAL_INPUTS)
    for given in ({}, {"task": ""}, {"task": " \n"}, {"base": "dev"}):
        with pytest.raises(InputError) as caught:
            resolve_inputs(template, given)
        assert [spec.name for spec in caught.value.missing] == ["task"]
        assert caught.value.unknown == ()
        assert str(caught.value) == "template mini needs task (What to do)"
    assert caught.value.describe(lambda name: f"pass --{name}") == (
        "template mini needs task: pass --task"
    )
    # A required input whose default is empty or blank is still missing.
    for default in ("", " "):
        empty_default = inputs_template({"name": "lang", "default": default})
        with pytest.raises(InputError, match=r"^template mini needs lang$"):
            resolve_inputs(empty_default, {"task": "x"})


def test_resolve_inputs_fills_the_task_input_with_the_task() -> None:
    template = inputs_template(*OPTIONAL_INPUTS)
    resolved = resolve_inputs(template, {"base": "dev"}, task="fix it")
    assert resolved == {"task": "fix it", "base": "dev", "note": ""}
    assert resolve_inputs(template, {"task": "same"}, task="same")["task"] == "same"
    with pytest.raises(TemplateError, match="input task is given twice") as caught:
        resolve_inputs(template, {"task": "one"}, task="two")
    assert not isinstance(caught.value, InputError)
    with pytest.raises(InputError, match="needs task"):
        resolve_inputs(template, {}, task="  ")  # a blank task is no task


def test_resolve_inputs_refuses_unknown_names() -> None:
    template = inputs_template(*OPTIONAL_INPUTS)
    with pytest.raises(InputError) as caught:
        resolve_inputs(template, {"task": "x", "tsk": "y", "b": "z"})
    assert caught.value.unknown == ("b", "tsk") and caught.value.missing == ()
    assert str(caught.value) == "template mini has no input b, tsk (its inputs: base, note, task)"
    # Every problem at once, and the task of a template without a task input is unknown too.
    import yaml

    data = yaml.safe_load(variant("Review {{ inputs.task }}.", "Review {{ inputs.diff }}."))
    data["inputs"] = [{"name": "diff", "description": "The diff"}]
    no_task = Template.model_validate(data)
    with pytest.raises(InputError) as caught:
        resolve_inputs(no_task, {}, task="x")
    assert str(caught.value) == (
        "template mini has no input task (its inputs: diff); needs diff (The diff)"
    )


# --------------------------------------------------------------------------------------------
# Outputs and votes


def test_extract_outputs() -> None:
    reply = (
        "I was asked to end with VERDICT: APPROVE or VERDICT: CHANGES_REQUESTED.\n"
        "VERDICT: CHANGES_REQUESTED\n"
        "FILES: a.py, b.py\n"
        "More text\n"
        "  **VERDICT:** approve.\n"
    )
    specs = {
        "verdict": OutputSpec(marker="VERDICT:"),
        "normalised": OutputSpec(marker="VERDICT:", choices=["APPROVE", "CHANGES_REQUESTED"]),
        "files": OutputSpec(regex=r"FILES: (.*)", group=1),
        "whole": OutputSpec(regex=r"^FILES: .*$"),
        "absent": OutputSpec(marker="ROOT CAUSE:"),
        "no_match": OutputSpec(regex=r"TESTS: (PASS|FAIL)", group=1),
    }
    assert extract_outputs(specs, reply) == {
        "verdict": "approve.",
        "normalised": "APPROVE",
        "files": "a.py, b.py",
        "whole": "FILES: a.py, b.py",
        "absent": None,
        "no_match": None,
    }


def test_marker_takes_the_last_line_and_choices_normalise() -> None:
    spec = {"v": OutputSpec(marker="VERDICT:", choices=["CHANGES", "CHANGES_REQUESTED"])}
    assert extract_outputs(spec, "VERDICT: CHANGES\nVERDICT: changes requested - 2 items") == {
        "v": "CHANGES_REQUESTED"
    }
    assert extract_outputs(spec, "`VERDICT: CHANGES`") == {"v": "CHANGES"}
    assert extract_outputs(spec, "VERDICT: maybe") == {"v": None}
    assert extract_outputs({"t": OutputSpec(marker="TESTS:")}, "- TESTS: PASS (42)") == {
        "t": "PASS (42)"
    }


def test_output_spec_validation() -> None:
    with pytest.raises(ValidationError, match="group 2 does not exist"):
        OutputSpec(regex="(a)", group=2)
    with pytest.raises(ValidationError, match="invalid regex"):
        OutputSpec(regex="(a")
    with pytest.raises(ValidationError, match="exactly one of marker or regex"):
        OutputSpec()
    assert extract_outputs({"n": OutputSpec(regex="(?P<n>\\d+) tests", group="n")}, "9 tests") == {
        "n": "9"
    }


def test_vote() -> None:
    assert vote(["yes", "Yes ", None]) == "yes"
    assert vote(["A", "B", "C"]) is None
    assert vote(["A", "B"]) is None
    assert vote(["A", None, None]) is None  # one vote of three is no majority
    assert vote([]) is None


# --------------------------------------------------------------------------------------------
# Roles and loops at run time


def _roles_template(roles: dict[str, dict[str, Any]]) -> Template:
    steps = [{"id": f"s{i}", "role": name, "prompt": "go"} for i, name in enumerate(roles)]
    return Template.model_validate({"name": "t", "roles": roles, "steps": steps})


def test_resolve_roles_follows_preference_order() -> None:
    template = _roles_template(
        {"reviewer": {"prefer": ["claude", "gemini"]}, "fixer": {"prefer": ["codex", "claude"]}}
    )
    agents = {"g": "gemini", "c": "claude", "x": "codex"}
    assert resolve_roles(template, agents) == {"reviewer": "c", "fixer": "x"}
    # One agent may fill several roles.
    assert resolve_roles(template, {"c": "claude"}) == {"reviewer": "c", "fixer": "c"}


def test_resolve_roles_fallback_and_spreading() -> None:
    template = _roles_template(
        {
            "a": {"prefer": ["claude"]},
            "b": {"prefer": ["claude"]},
            "c": {"prefer": ["codex"], "fallback": ["gemini"]},
            "d": {"prefer": ["codex"], "fallback": ["*"]},
        }
    )
    agents = {"claude-1": "claude", "claude-2": "claude", "gem": "gemini"}
    assert resolve_roles(template, agents) == {
        "a": "claude-1",
        "b": "claude-2",  # a second agent of the same profile takes the second role
        "c": "gem",
        "d": "claude-1",  # "*": any launched agent, the unused ones first (none left)
    }
    by_agent_name = _roles_template({"a": {"prefer": ["claude-2", "claude"]}})
    assert resolve_roles(by_agent_name, agents) == {"a": "claude-2"}


def test_fill_roles_named_agents_first_then_preferences_around_them() -> None:
    """The one rule of every run (CLI, picker, host): an agent named like a role takes it and
    counts as taken, the rest go by preference; an unfillable role hides nobody else's."""
    template = _roles_template(
        {
            "reviewer": {"prefer": ["claude"]},
            "fixer": {"prefer": ["claude"]},
            "x": {"prefer": ["aider"]},
        }
    )
    agents = {"reviewer": "claude", "claude-2": "claude"}
    assert fill_roles(template, agents) == {"reviewer": "reviewer", "fixer": "claude-2", "x": None}
    with pytest.raises(TemplateError, match=r"role x needs one of \[aider\]"):
        assign_roles(template, agents)
    fillable = _roles_template(
        {"reviewer": {"prefer": ["claude"]}, "fixer": {"prefer": ["claude"]}}
    )
    assert assign_roles(fillable, agents) == {"reviewer": "reviewer", "fixer": "claude-2"}
    assert assign_roles(fillable, {"c": "claude"}) == {"reviewer": "c", "fixer": "c"}


def test_resolve_roles_unfillable() -> None:
    template = _roles_template(
        {"reviewer": {"prefer": ["claude", "gemini"]}, "fixer": {"prefer": ["codex"]}}
    )
    with pytest.raises(TemplateError) as caught:
        resolve_roles(template, {"g": "gemini"})
    assert str(caught.value) == "role fixer needs one of [codex]; launched: g (gemini)"
    with pytest.raises(TemplateError) as caught:
        resolve_roles(template, {})
    assert str(caught.value) == (
        "role reviewer needs one of [claude, gemini]; launched: none\n"
        "role fixer needs one of [codex]; launched: none"
    )


def test_loop_tracker_counts_rounds_at_the_head_and_resets_on_leaving() -> None:
    import yaml

    data = yaml.safe_load(BASE)
    data["loops"][0]["max_rounds"] = 2
    template = Template.model_validate(data)
    tracker = LoopTracker(template)
    path = ["review", "fix", "review", "fix", "review"]
    assert [tracker.arrive(step) for step in path] == [None] * 5
    assert tracker.round("review-loop") == 2
    exceeded = tracker.arrive("fix")
    assert exceeded is not None and exceeded.name == "review-loop" and exceeded.on_limit == "fail"
    # Resumable: the counts are plain data.
    assert LoopTracker(template, dict(tracker.rounds)).round("review-loop") == 3
    tracker.arrive("elsewhere")  # leaving the loop's steps starts the count again
    assert tracker.round("review-loop") == 0
