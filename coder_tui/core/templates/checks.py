"""The checks pydantic cannot make field by field, each problem located by its field path:
duplicate ids, ``start``/``goto``/loop targets that point nowhere, unknown or unused roles,
parallel joins missing what they need, and jinja2 syntax and names in every prompt, gate
message and condition (with the line inside the text).

Template's validator runs them (and the loader, to turn the paths into ``file:line``). They
read the models only through their fields, so the models are imported for type checking only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.parser import Parser

from coder_tui.core.templates.base import END, FAIL, Issue, Loc
from coder_tui.core.templates.cycles import check_cycles
from coder_tui.core.templates.rendering import ARBITER_VARIABLES, PROMPT_VARIABLES, SANDBOX

if TYPE_CHECKING:
    from coder_tui.core.templates.model import Step, Template, Turn

_DICT_METHODS = frozenset({"items", "keys", "values", "get"})


def _names(items: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(items)) or "(none)"


def _parse(source: str, expression: bool) -> nodes.Template:
    """The jinja2 AST of a template or an expression; TemplateSyntaxError when invalid."""
    if not expression:
        return SANDBOX.parse(source)
    parser = Parser(SANDBOX, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        raise TemplateSyntaxError(
            "unexpected text after the expression", parser.stream.current.lineno
        )
    tree = nodes.Template([nodes.Output([expr], lineno=1)], lineno=1)
    tree.set_environment(SANDBOX)
    return tree


def _chain(node: nodes.Node) -> list[str] | None:
    """``steps.fix.reply`` / ``steps['fix'].reply`` -> ["steps", "fix", "reply"]."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return parts[::-1]
        else:
            return None


@dataclass
class _Scope:
    """What a template may refer to."""

    variables: frozenset[str]
    step_outputs: dict[str, set[str] | None]  # every step/branch id -> its outputs (None: any)
    inputs: set[str]
    outputs: set[str] | None  # this step's outputs in a `when` (None: unchecked)


def _check_jinja(source: str, expression: bool, loc: Loc, scope: _Scope) -> list[Issue]:
    what = "expression" if expression else "template"
    try:
        tree = _parse(source, expression)
    except TemplateSyntaxError as exc:
        return [Issue(loc, f"jinja2 {what} syntax error: {exc.message}", exc.lineno)]
    issues: list[Issue] = []
    from_context = meta.find_undeclared_variables(tree)  # not set by `for` / `set` inside
    allowed = scope.variables | set(SANDBOX.globals)
    for name_node in tree.find_all(nodes.Name):
        if name_node.name in from_context and name_node.name not in allowed:
            message = (
                f"unknown variable {name_node.name!r}; available here: "
                f"{_names(sorted(scope.variables))}"
            )
            issues.append(Issue(loc, message, name_node.lineno))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        chain = _chain(node)
        if chain is None or len(chain) < 2 or chain[1] in _DICT_METHODS:
            continue
        root, key = chain[0], chain[1]
        if root not in from_context:
            continue  # a local (for / set) shadows it
        problem: str | None = None
        if root == "steps":
            if key not in scope.step_outputs:
                problem = f"unknown step {key!r}; steps are: {_names(scope.step_outputs)}"
            elif len(chain) >= 4 and chain[2] == "outputs" and chain[3] not in _DICT_METHODS:
                known = scope.step_outputs[key]
                if known is not None and chain[3] not in known:
                    problem = (
                        f"step {key!r} has no output {chain[3]!r}; its outputs are: "
                        f"{_names(sorted(known))}"
                    )
        elif root == "inputs" and key not in scope.inputs:
            problem = f"unknown input {key!r}; inputs are: {_names(sorted(scope.inputs))}"
        elif root == "outputs" and scope.outputs is not None and key not in scope.outputs:
            problem = f"unknown output {key!r}; this step's outputs are: " + _names(
                sorted(scope.outputs)
            )
        if problem is not None:
            issues.append(Issue(loc, problem, node.lineno))
    unique: dict[tuple[Loc, str], Issue] = {}
    for issue in issues:
        unique.setdefault((issue.loc, issue.message), issue)
    return list(unique.values())


def _step_outputs(template: Template) -> dict[str, set[str] | None]:
    """Every step and branch id -> the outputs its agent's reply gives (None: the operator's,
    for parallel groups and gates, unchecked)."""
    known: dict[str, set[str] | None] = {}
    for step in template.steps:
        known.setdefault(step.id, set(step.outputs) if step.kind == "agent" else None)
        for branch in step.parallel.branches if step.parallel is not None else []:
            known.setdefault(branch.id, set(branch.outputs))
    return known


def _turns(step: Step, i: int) -> Iterator[tuple[Loc, Turn | Step, frozenset[str]]]:
    """Every agent turn in a step: (location, turn, variables its prompt may use)."""
    if step.kind == "agent":
        yield ("steps", i), step, PROMPT_VARIABLES
    if step.parallel is not None:
        for j, branch in enumerate(step.parallel.branches):
            yield ("steps", i, "parallel", "branches", j), branch, PROMPT_VARIABLES
        if step.parallel.arbiter is not None:
            yield ("steps", i, "parallel", "arbiter"), step.parallel.arbiter, ARBITER_VARIABLES


def cross_field_issues(t: Template) -> list[Issue]:
    """Everything pydantic cannot see field by field, each issue located by its field path."""
    graph = _check_ids(t) + _check_targets(t)
    issues = graph + _check_roles(t) + _check_groups(t) + _check_texts(t)
    if not graph:  # the cycle check needs sound ids and targets, or it only adds noise
        issues += check_cycles(t)
    return issues


def _check_ids(t: Template) -> list[Issue]:
    """Steps and branches share one namespace (``steps.<id>`` in prompts); inputs, loops."""
    issues: list[Issue] = []
    seen: set[str] = set()
    for i, step in enumerate(t.steps):
        located: list[tuple[str, Loc]] = [(step.id, ("steps", i, "id"))]
        if step.parallel is not None:
            for j, branch in enumerate(step.parallel.branches):
                located.append((branch.id, ("steps", i, "parallel", "branches", j, "id")))
        for ident, loc in located:
            if ident in seen:
                issues.append(Issue(loc, f"duplicate step id {ident!r}"))
            seen.add(ident)
    for kind, names in (
        ("input", [(("inputs", k, "name"), s.name) for k, s in enumerate(t.inputs)]),
        ("loop name", [(("loops", k, "name"), loop.name) for k, loop in enumerate(t.loops)]),
    ):
        seen = set()
        for loc, name in names:
            if name in seen:
                issues.append(Issue(loc, f"duplicate {kind} {name!r}"))
            seen.add(name)
    return issues


def _check_targets(t: Template) -> list[Issue]:
    """``start``, every ``goto``, loop steps and ``on_limit`` name existing steps."""
    top_ids = [step.id for step in t.steps]
    branch_of = {
        branch.id: step.id
        for step in t.steps
        if step.parallel is not None
        for branch in step.parallel.branches
    }

    def problem(target: str, allow_end: bool = True) -> str | None:
        if target in top_ids or (allow_end and target in (END, FAIL)):
            return None
        if target in branch_of:
            return (
                f"{target!r} is a branch of the parallel step {branch_of[target]!r}; "
                f"name the step {branch_of[target]!r} instead"
            )
        ends = ", end, fail" if allow_end else ""
        return f"{target!r} is not a step; expected one of: {_names(top_ids)}{ends}"

    issues: list[Issue] = []
    if t.start is not None and (found := problem(t.start, allow_end=False)):
        issues.append(Issue(("start",), found))
    for i, step in enumerate(t.steps):
        for k, rule in enumerate(step.next or []):
            if found := problem(rule.goto):
                issues.append(Issue(("steps", i, "next", k, "goto"), found))
    for li, loop in enumerate(t.loops):
        for k, member in enumerate(loop.steps):
            if found := problem(member, allow_end=False):
                issues.append(Issue(("loops", li, "steps", k), found))
            elif member in loop.steps[:k]:
                issues.append(Issue(("loops", li, "steps", k), f"{member!r} is listed twice"))
        if loop.on_limit.startswith("goto:"):
            if found := problem(loop.limit_target, allow_end=False):
                issues.append(Issue(("loops", li, "on_limit"), found))
            elif loop.limit_target in loop.steps:
                message = (
                    f"{loop.on_limit} stays inside the loop; on_limit must leave it "
                    "(a step outside the loop, end or fail)"
                )
                issues.append(Issue(("loops", li, "on_limit"), message))
    return issues


def _check_roles(t: Template) -> list[Issue]:
    issues: list[Issue] = []
    used: set[str] = set()
    for i, step in enumerate(t.steps):
        for loc, turn, _ in _turns(step, i):
            assert turn.role is not None
            used.add(turn.role)
            if turn.role not in t.roles:
                message = f"unknown role {turn.role!r}; roles are: {_names(t.roles)}"
                issues.append(Issue((*loc, "role"), message))
    for name in t.roles:
        if name not in used:
            issues.append(Issue(("roles", name), f"role {name!r} is not used by any step"))
    return issues


def _check_groups(t: Template) -> list[Issue]:
    """Outputs only on agent turns; each join has what it needs and nothing it ignores."""
    issues: list[Issue] = []
    for i, step in enumerate(t.steps):
        if step.outputs and step.kind != "agent":
            message = (
                "outputs are taken from an agent's reply: put them on the branches "
                "(or the arbiter) of a parallel step; a gate has none"
            )
            issues.append(Issue(("steps", i, "outputs"), message))
        group = step.parallel
        if group is None:
            continue
        here: Loc = ("steps", i, "parallel")
        if group.join == "vote" and group.vote_output is None:
            message = "join: vote needs vote_output (the output voted on)"
            issues.append(Issue((*here, "join"), message))
        if group.vote_output is not None and group.join != "vote":
            issues.append(Issue((*here, "vote_output"), "only used with join: vote"))
        elif group.vote_output is not None:
            lacking = [b.id for b in group.branches if group.vote_output not in b.outputs]
            if lacking:
                message = (
                    f"every branch must have the output {group.vote_output!r}; "
                    f"missing in: {_names(lacking)}"
                )
                issues.append(Issue((*here, "vote_output"), message))
        if group.join == "arbiter" and group.arbiter is None:
            message = "join: arbiter needs an arbiter (role, prompt)"
            issues.append(Issue((*here, "join"), message))
        if group.arbiter is not None and group.join != "arbiter":
            issues.append(Issue((*here, "arbiter"), "only used with join: arbiter"))
    return issues


def _check_texts(t: Template) -> list[Issue]:
    """Jinja2 syntax of every prompt, gate message and condition, and every name they use."""
    issues: list[Issue] = []
    step_outputs = _step_outputs(t)
    input_names = {spec.name for spec in t.inputs}
    for i, step in enumerate(t.steps):
        for loc, turn, variables in _turns(step, i):
            assert turn.prompt is not None
            scope = _Scope(variables, step_outputs, input_names, None)
            issues += _check_jinja(turn.prompt, False, (*loc, "prompt"), scope)
        if step.gate is not None:
            scope = _Scope(PROMPT_VARIABLES, step_outputs, input_names, None)
            issues += _check_jinja(step.gate.message, False, ("steps", i, "gate", "message"), scope)
        outputs: set[str] | None
        if step.kind == "agent":
            when_vars, outputs = PROMPT_VARIABLES | {"outputs"}, set(step.outputs)
        elif step.parallel is not None:
            # The join's outputs are the operator's to define (see ParallelGroup): unchecked.
            when_vars, outputs = PROMPT_VARIABLES | {"outputs", "branches"}, None
        else:
            when_vars, outputs = PROMPT_VARIABLES | {"gate"}, None
        for k, rule in enumerate(step.next or []):
            if rule.when is not None:
                scope = _Scope(when_vars, step_outputs, input_names, outputs)
                issues += _check_jinja(rule.when, True, ("steps", i, "next", k, "when"), scope)
    return issues
