"""Workflow templates: the steps an operator runs over agents, as validated data.

A template names **roles** (filled by launched agents, chosen by profile preference), a list of
**steps** (an agent's turn, a parallel group of turns, or a human approval gate), the routing
between them (``next`` rules with sandboxed jinja2 conditions) and **loops** that bound every
cycle. Built-in templates ship in the wheel (``coder_tui/_builtin_templates``, the repository's
top-level ``templates/`` folder in a checkout); users add or override them by name in
``<config>/templates/*.yaml`` and in a project's ``.coder-tui/templates/*.yaml``.

Everything a user can get wrong is refused at load time with ``file:line: field: message``:
YAML syntax, unknown or missing fields, unknown roles, ``goto``/``start``/loop steps that point
nowhere, duplicate ids, jinja2 syntax errors, references to steps, inputs, outputs or variables
that do not exist, and cycles in the step graph that no ``loops`` entry bounds.

Rendering context (built by the operator; the contract the static checks assume):

- prompt of a step or branch: ``inputs`` (name -> value), ``steps`` (id -> ``{reply, outputs,
  round}`` for every step, branch and parallel group that has run; a step that has not run is
  simply absent), ``round`` (this step's visit count, 1-based), ``loop`` (name of the innermost
  loop holding this step, or None), ``agent`` (name of the agent that will answer) and
  ``channel_guidance`` (what the user said for this step in the channel, or "").
- arbiter prompt: the same plus ``branches`` (branch id -> ``{reply, outputs, agent}``); the
  branches' results are also in ``steps.<branch id>``.
- gate message: the prompt variables (``agent`` is empty). Once answered, a gate's entry in
  ``steps`` has ``outputs.approved`` ("yes" or "no").
- ``next[].when``: the step's own variables plus, for an agent step, ``outputs`` (taken from this
  reply); for a parallel step ``outputs`` (the join's, see ParallelGroup) and ``branches``; for a
  gate ``gate`` (``{approved: bool}``).

Undefined values are jinja2's ``ChainableUndefined``: ``steps.fix.reply`` renders as "" and
``{% if steps.fix %}`` is false until ``fix`` has run, which is what prompts that run in several
rounds need. The price, silent typos, is paid back by the load-time checks above: every
``steps.X``, ``inputs.X``, ``outputs.X`` and every top-level variable is checked against the
template. The environment is jinja2's *immutable* sandbox (no underscore attributes, no
mutating methods, no ``eval``); an unsafe access raises instead of rendering as empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from jinja2 import ChainableUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

import coder_tui
from coder_tui import paths
from coder_tui.core.yamlfile import ConfigError, ConfigProblem, load_yaml_model

__all__ = [
    "END",
    "FAIL",
    "Arbiter",
    "Branch",
    "Category",
    "Gate",
    "InputSpec",
    "Limits",
    "Loop",
    "LoopTracker",
    "NextRule",
    "OutputSpec",
    "ParallelGroup",
    "Role",
    "Step",
    "Template",
    "TemplateError",
    "Turn",
    "builtin_template_files",
    "eval_condition",
    "extract_outputs",
    "load_template_file",
    "load_templates",
    "render_prompt",
    "resolve_roles",
    "template_dirs",
    "vote",
]

END = "end"  # goto target: finish the run successfully
FAIL = "fail"  # goto target: finish the run as failed
ANY_AGENT = "*"  # in a role's fallback: any launched agent

STEP_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
NAME_PATTERN = r"^[a-z][a-z0-9-]*$"
_IDENT_PATTERN = r"^[a-z_][a-z0-9_]*$"  # usable as inputs.NAME / outputs.NAME in jinja2
_PROFILE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")


class TemplateError(Exception):
    """A template cannot be used as asked: a role nobody can fill, a prompt that fails to render,
    a missing input. (Problems in a template *file* are ConfigError, with file and line.)"""


# --------------------------------------------------------------------------------------------
# jinja2: one sandboxed environment for prompts and conditions


class _Sandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox whose unsafe accesses raise instead of rendering as (chainable) empty.

    ``a.b`` on a mapping looks up the key before the attribute, so a step called ``update`` or
    ``items`` is ``steps.update``, not the dict method; before that step has run, the name of a
    mutating method is undefined (like any other step that has not run), not an error.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
            value = getattr(obj, attribute, None)
            if not attribute.startswith("_") and not self.is_safe_attribute(obj, attribute, value):
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )


_ENV = _Sandbox(
    undefined=ChainableUndefined,
    autoescape=False,
    trim_blocks=True,  # a `{% if %}` line leaves no blank line in the prompt
    lstrip_blocks=True,
    keep_trailing_newline=False,
)

PROMPT_VARIABLES = frozenset({"inputs", "steps", "round", "loop", "agent", "channel_guidance"})
ARBITER_VARIABLES = PROMPT_VARIABLES | {"branches"}
_DICT_METHODS = frozenset({"items", "keys", "values", "get"})


@lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    return _ENV.from_string(source)


@lru_cache(maxsize=512)
def _compiled_expression(source: str) -> Any:
    return _ENV.compile_expression(source, undefined_to_none=False)


def render_prompt(template_text: str, context: Mapping[str, Any]) -> str:
    """Render a prompt (or gate message) in the sandbox, stripped of surrounding blank space.

    Raises TemplateError on any failure (syntax, unsafe access, a call to an undefined name).
    """
    try:
        return str(_compiled(template_text).render(dict(context))).strip()
    except Exception as exc:
        raise TemplateError(f"cannot render the prompt: {exc}") from exc


def eval_condition(expr: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a ``when`` expression in the sandbox (undefined is false).

    Raises TemplateError when it cannot be evaluated.
    """
    try:
        return bool(_compiled_expression(expr)(**context))
    except Exception as exc:
        raise TemplateError(f"cannot evaluate {expr!r}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(StrEnum):
    REVIEW = "review"
    BUILD = "build"
    TEST = "test"
    PLAN = "plan"
    DOCS = "docs"
    REFACTOR = "refactor"
    DEBUG = "debug"
    DECIDE = "decide"
    OPS = "ops"
    OTHER = "other"


class InputSpec(_Model):
    """A value the user gives when starting the run (a field of the picker's form)."""

    name: str = Field(pattern=_IDENT_PATTERN)
    description: str = ""
    required: bool = True
    default: str | None = None


class Role(_Model):
    """Who may fill a role: agent profile names in order of preference, then fallbacks.

    An entry may also be a launched agent's own name; ``"*"`` in ``fallback`` means any
    launched agent.
    """

    description: str = ""
    prefer: list[str] = Field(min_length=1)
    fallback: list[str] = Field(default_factory=list)

    @field_validator("prefer", "fallback")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if name != ANY_AGENT and not _PROFILE_PATTERN.match(name):
                raise ValueError(f"{name!r} is not a profile name ([a-z][a-z0-9_-]*)")
        return names


class OutputSpec(_Model):
    """A value taken from an agent's reply.

    ``marker``: the text after the last line that starts with the marker (leading whitespace
    and Markdown decoration such as ``**``, backticks, ``>``, ``-`` ignored), stripped.
    ``regex``: the first match (re.MULTILINE), group ``group`` (default 0), stripped.
    ``choices``: normalise the value to one of these words (case, spaces, ``_``/``-`` and
    trailing text ignored: "changes requested." -> CHANGES_REQUESTED); any other value -> None.
    Nothing found -> None.
    """

    marker: Annotated[str, StringConstraints(min_length=1)] | None = None
    regex: str | None = None
    group: int | str = 0
    choices: list[str] | None = None

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern, re.MULTILINE)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        return pattern

    @field_validator("choices")
    @classmethod
    def _choices_are_words(cls, choices: list[str] | None) -> list[str] | None:
        for choice in choices or []:
            if not _words(choice):
                raise ValueError(f"choice {choice!r} has no letters or digits")
        return choices

    @model_validator(mode="after")
    def _one_source(self) -> OutputSpec:
        if (self.marker is None) == (self.regex is None):
            raise PydanticCustomError("output_source", "give exactly one of marker or regex")
        if self.regex is not None:
            compiled = re.compile(self.regex, re.MULTILINE)
            if isinstance(self.group, int) and self.group > compiled.groups:
                raise PydanticCustomError(
                    "output_group",
                    "group {group} does not exist: the regex has {count} group(s)",
                    {"group": self.group, "count": compiled.groups},
                )
            if isinstance(self.group, str) and self.group not in compiled.groupindex:
                raise PydanticCustomError(
                    "output_group", "the regex has no group named '{group}'", {"group": self.group}
                )
        elif self.group != 0:
            raise PydanticCustomError("output_group", "group is only used with regex")
        return self


_OutputName = Annotated[str, StringConstraints(pattern=_IDENT_PATTERN)]
OnFailure = Literal["fail", "fallback", "skip"]


class Turn(_Model):
    """One prompt to one agent and what to take from its reply (a branch or an arbiter; an
    agent step has the same fields on Step)."""

    role: str
    prompt: str = Field(min_length=1)
    outputs: dict[_OutputName, OutputSpec] = Field(default_factory=dict)
    timeout: float = Field(default=1800, gt=0)  # seconds for the turn
    retries: int = Field(default=0, ge=0, le=10)  # re-deliveries on timeout or agent crash
    # when retries are exhausted: fail the run | fallback: the next agent for the role | skip
    on_failure: OnFailure = "fail"


class Branch(Turn):
    """One branch of a parallel group. Its id is a step id: ``steps.<id>`` holds its result."""

    id: str = Field(pattern=STEP_ID_PATTERN)


class Arbiter(Turn):
    """The turn that decides a ``join: arbiter`` group; its prompt also sees ``branches``."""


class ParallelGroup(_Model):
    """Branches delivered at the same time (to different agents when roles allow).

    ``join`` decides when the group is done: ``all`` waits for every branch, ``first`` for the
    first to finish, ``vote`` for every branch and then takes ``vote_output``'s most common
    value (``vote()`` gives the strict-majority rule), ``arbiter`` for every branch and then
    runs the arbiter's turn. Each branch's result is in ``steps.<branch id>``; conditions on the
    group itself see the join's ``outputs`` (the winning value for ``vote``, the arbiter's for
    ``arbiter``). Prefer ``steps.<branch id>.outputs.X`` in prompts and conditions: it means the
    same whatever the join.
    """

    branches: list[Branch] = Field(min_length=2)
    join: Literal["all", "first", "vote", "arbiter"] = "all"
    vote_output: str | None = None
    arbiter: Arbiter | None = None


class Gate(_Model):
    """A human approval: the run waits until the user approves or rejects (with a comment)."""

    message: str = Field(min_length=1)


class NextRule(_Model):
    """``goto`` a step id, ``end`` or ``fail`` when ``when`` (a jinja2 expression) is true or
    absent. Rules are tried in order; when none matches the run fails, so end the list with a
    rule without ``when``. Without ``next`` the run goes to the following step (``end`` after
    the last one)."""

    when: str | None = None
    goto: str = Field(min_length=1)


class Step(_Model):
    """Exactly one of: an agent's turn (``role`` + ``prompt``), ``parallel`` or ``gate``."""

    id: str = Field(pattern=STEP_ID_PATTERN)
    role: str | None = None
    prompt: str | None = None
    outputs: dict[_OutputName, OutputSpec] = Field(default_factory=dict)
    parallel: ParallelGroup | None = None
    gate: Gate | None = None
    timeout: float = Field(default=1800, gt=0)
    retries: int = Field(default=0, ge=0, le=10)
    on_failure: OnFailure = "fail"
    next: list[NextRule] | None = None

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in (END, FAIL):
            raise ValueError(f"{value!r} is reserved (goto: {value} finishes the run)")
        return value

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Step:
        kinds = [
            name
            for name, present in (
                ("role + prompt", self.role is not None or self.prompt is not None),
                ("parallel", self.parallel is not None),
                ("gate", self.gate is not None),
            )
            if present
        ]
        if len(kinds) != 1:
            found = f"it has {' and '.join(kinds)}" if kinds else "it has none"
            raise PydanticCustomError(
                "step_kind",
                "step '{id}' needs exactly one of: role + prompt (an agent's turn), "
                "parallel (branches), gate (a human approval); {found}",
                {"id": self.id, "found": found},
            )
        if kinds == ["role + prompt"] and (self.role is None or self.prompt is None):
            missing = "role" if self.role is None else "prompt"
            raise PydanticCustomError(
                "step_kind",
                "step '{id}' has a {has} but no {missing}",
                {
                    "id": self.id,
                    "has": "prompt" if missing == "role" else "role",
                    "missing": missing,
                },
            )
        return self

    @property
    def kind(self) -> Literal["agent", "parallel", "gate"]:
        if self.parallel is not None:
            return "parallel"
        return "gate" if self.gate is not None else "agent"


_LIMIT_PATTERN = re.compile(r"^(fail|end|goto:[a-z][a-z0-9_]*)$")


class Loop(_Model):
    """Bounds a cycle of steps. The first listed step is the loop's *head*: a round begins each
    time the run arrives at it, and the count starts again once the run leaves the loop's steps.
    Arriving at the head for round ``max_rounds + 1`` applies ``on_limit`` instead:
    ``fail``, ``end`` (stop successfully) or ``goto:<step id>`` (a step outside the loop).
    LoopTracker implements this."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    steps: list[str] = Field(min_length=1)
    max_rounds: int = Field(ge=1)
    on_limit: str = "fail"

    @field_validator("on_limit")
    @classmethod
    def _limit_action(cls, value: str) -> str:
        if not _LIMIT_PATTERN.match(value):
            raise ValueError("expected fail, end or goto:<step id>")
        return value

    @property
    def head(self) -> str:
        return self.steps[0]

    @property
    def limit_target(self) -> str:
        """``fail``, ``end`` or the step id of ``goto:<id>``."""
        return self.on_limit.removeprefix("goto:")


class Limits(_Model):
    max_hops: int = Field(default=50, ge=1)  # deliveries without a human message in between


_RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$")]

# Set while a file is being loaded: the loader runs the cross-field checks itself, with lines.
_LOADING_FILE: ContextVar[bool] = ContextVar("_LOADING_FILE", default=False)


class Template(_Model):
    name: str = Field(pattern=NAME_PATTERN)
    title: str = ""
    category: Category = Category.OTHER
    description: str = ""
    inputs: list[InputSpec] = Field(default_factory=list)
    roles: dict[_RoleName, Role] = Field(min_length=1)
    start: str | None = None
    steps: list[Step] = Field(min_length=1)
    loops: list[Loop] = Field(default_factory=list)
    limits: Limits = Limits()
    # By default the operator never sends an agent a prompt quoting its own reply (it hands the
    # step to another agent for the role, or stops); a template that wants self-review says so.
    allow_self_review: bool = False
    source: Path | None = Field(default=None, exclude=True)  # set by the loader, not the file

    @field_validator("source", mode="before")
    @classmethod
    def _not_from_a_file(cls, value: Any) -> Any:
        if _LOADING_FILE.get():
            raise PydanticCustomError("extra_forbidden", "Extra inputs are not permitted")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        if not _LOADING_FILE.get():
            issues = _check(self)
            if issues:
                raise PydanticCustomError(
                    "template_invalid", "{issues}", {"issues": "\n".join(map(str, issues))}
                )
        return self

    # -- lookups --------------------------------------------------------------------------

    def step(self, id: str) -> Step:
        for step in self.steps:
            if step.id == id:
                return step
        raise KeyError(f"template {self.name!r} has no step {id!r}")

    def first_step_id(self) -> str:
        return self.start or self.steps[0].id

    def loop_of(self, step_id: str) -> Loop | None:
        """The innermost (fewest steps; first declared on a tie) loop holding ``step_id``."""
        holding = [loop for loop in self.loops if step_id in loop.steps]
        return min(holding, key=lambda loop: len(loop.steps)) if holding else None

    def following(self, step_id: str) -> str:
        """Where the run goes when ``next`` is omitted."""
        ids = [step.id for step in self.steps]
        index = ids.index(step_id)
        return ids[index + 1] if index + 1 < len(ids) else END

    def next_step_id(self, step_id: str, context: Mapping[str, Any]) -> str:
        """Route after ``step_id``: the first matching ``next`` rule, or the following step
        when ``next`` is omitted; TemplateError when no rule matches."""
        rules = self.step(step_id).next
        if rules is None:
            return self.following(step_id)
        for rule in rules:
            if rule.when is None or eval_condition(rule.when, context):
                return rule.goto
        raise TemplateError(f"step {step_id}: no `next` rule matched and none is unconditional")

    def input_values(self, given: Mapping[str, str | None]) -> dict[str, str | None]:
        """The inputs for a run: ``given`` plus defaults; TemplateError naming what is wrong."""
        known = {spec.name for spec in self.inputs}
        problems = [f"unknown input {name!r}" for name in given if name not in known]
        values: dict[str, str | None] = {}
        for spec in self.inputs:
            value = given.get(spec.name)
            if value is None or not value.strip():
                value = spec.default if spec.default is not None else value
            if spec.required and (value is None or not value.strip()):
                problems.append(f"input {spec.name!r} is required ({spec.description})".strip())
            values[spec.name] = value
        if problems:
            raise TemplateError(f"{self.name}: " + "; ".join(problems))
        return values


# --------------------------------------------------------------------------------------------
# Reply parsing, voting, roles, loops at run time


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text.upper())


def _choose(value: str, choices: list[str]) -> str | None:
    words = _words(value)
    for choice in sorted(choices, key=lambda c: -len(_words(c))):
        wanted = _words(choice)
        if words[: len(wanted)] == wanted:
            return choice
    return None


_DECORATION = " \t>*_`#-+"


def _after_marker(reply: str, marker: str) -> str | None:
    for line in reversed(reply.splitlines()):
        text = line.strip()
        for candidate in (text, text.lstrip(_DECORATION)):
            if candidate.startswith(marker):
                return candidate[len(marker) :].strip().strip("*_`").strip()
    return None


def extract_outputs(specs: Mapping[str, OutputSpec], reply: str) -> dict[str, str | None]:
    """Take each output from the reply (see OutputSpec); None for those not found."""
    values: dict[str, str | None] = {}
    for name, spec in specs.items():
        value: str | None
        if spec.marker is not None:
            value = _after_marker(reply, spec.marker)
        else:
            match = re.search(spec.regex or "", reply, re.MULTILINE)
            found = match.group(spec.group) if match else None
            value = found.strip() if found is not None else None
        if value is not None and spec.choices is not None:
            value = _choose(value, spec.choices)
        values[name] = value
    return values


def vote(values: Iterable[str | None]) -> str | None:
    """The value held by a strict majority of all votes (None counts as a vote for nothing),
    compared ignoring case and spacing; the first spelling seen is returned. None if none."""
    ballots = list(values)
    tally: dict[str, list[str]] = {}
    for value in ballots:
        if value is not None and value.strip():
            tally.setdefault(" ".join(value.split()).casefold(), []).append(value.strip())
    for spellings in tally.values():
        if len(spellings) * 2 > len(ballots):
            return spellings[0]
    return None


def resolve_roles(template: Template, available_agents: Mapping[str, str]) -> dict[str, str]:
    """Role -> agent name, from ``available_agents`` (launched and alive: agent name -> profile).

    For each role, the entries of ``prefer`` and then ``fallback`` are tried in order; an entry
    matches an agent of that name or agents with that profile (``"*"``: any agent). Among the
    matches of one entry an agent not yet given a role is chosen first, so two launched agents
    of one profile share the work; otherwise the same agent may fill several roles.
    """
    chosen: dict[str, str] = {}
    problems: list[str] = []
    for role_name, role in template.roles.items():
        agent = None
        for entry in [*role.prefer, *role.fallback]:
            if entry == ANY_AGENT:
                matches = list(available_agents)
            elif entry in available_agents:
                matches = [entry]
            else:
                matches = [a for a, profile in available_agents.items() if profile == entry]
            if matches:
                unused = [a for a in matches if a not in chosen.values()]
                agent = (unused or matches)[0]
                break
        if agent is None:
            launched = (
                ", ".join(f"{a} ({p})" for a, p in available_agents.items())
                if available_agents
                else "none"
            )
            wanted = ", ".join([*role.prefer, *role.fallback])
            problems.append(f"role {role_name} needs one of [{wanted}]; launched: {launched}")
        else:
            chosen[role_name] = agent
    if problems:
        raise TemplateError("\n".join(problems))
    return chosen


class LoopTracker:
    """Counts loop rounds as a run moves from step to step (the contract of Loop).

    Call ``arrive(step_id)`` before running each step; it returns the loop whose limit this
    arrival exceeds (apply its ``on_limit`` instead of running the step), or None. ``rounds``
    (loop name -> current round) is plain data, to persist and pass back on resume.
    """

    def __init__(self, template: Template, rounds: Mapping[str, int] | None = None) -> None:
        self.template = template
        self.rounds: dict[str, int] = dict(rounds or {})

    def arrive(self, step_id: str) -> Loop | None:
        exceeded: Loop | None = None
        innermost_first = sorted(self.template.loops, key=lambda loop: len(loop.steps))
        for loop in innermost_first:
            if step_id not in loop.steps:
                self.rounds.pop(loop.name, None)  # left the loop: its count starts again
            elif loop.head == step_id:
                self.rounds[loop.name] = self.rounds.get(loop.name, 0) + 1
                if self.rounds[loop.name] > loop.max_rounds and exceeded is None:
                    exceeded = loop
        return exceeded

    def round(self, loop_name: str) -> int:
        return self.rounds.get(loop_name, 0)


# --------------------------------------------------------------------------------------------
# Cross-field checks


Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class _Issue:
    loc: Loc
    message: str
    template_line: int | None = None  # 1-based line inside a jinja2 template text

    def __str__(self) -> str:
        return f"{'.'.join(map(str, self.loc))}: {self.message}"


def _names(items: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(items)) or "(none)"


def _parse(source: str, expression: bool) -> nodes.Template:
    """The jinja2 AST of a template or an expression; TemplateSyntaxError when invalid."""
    if not expression:
        return _ENV.parse(source)
    parser = Parser(_ENV, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        raise TemplateSyntaxError(
            "unexpected text after the expression", parser.stream.current.lineno
        )
    tree = nodes.Template([nodes.Output([expr], lineno=1)], lineno=1)
    tree.set_environment(_ENV)
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


def _check_jinja(source: str, expression: bool, loc: Loc, scope: _Scope) -> list[_Issue]:
    what = "expression" if expression else "template"
    try:
        tree = _parse(source, expression)
    except TemplateSyntaxError as exc:
        return [_Issue(loc, f"jinja2 {what} syntax error: {exc.message}", exc.lineno)]
    issues: list[_Issue] = []
    from_context = meta.find_undeclared_variables(tree)  # not set by `for` / `set` inside
    allowed = scope.variables | set(_ENV.globals)
    for name_node in tree.find_all(nodes.Name):
        if name_node.name in from_context and name_node.name not in allowed:
            message = (
                f"unknown variable {name_node.name!r}; available here: "
                f"{_names(sorted(scope.variables))}"
            )
            issues.append(_Issue(loc, message, name_node.lineno))
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
            issues.append(_Issue(loc, problem, node.lineno))
    unique: dict[tuple[Loc, str], _Issue] = {}
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


def _check(t: Template) -> list[_Issue]:
    """Everything pydantic cannot see field by field, each issue located by its field path."""
    graph = _check_ids(t) + _check_targets(t)
    issues = graph + _check_roles(t) + _check_groups(t) + _check_texts(t)
    if not graph:  # the cycle check needs sound ids and targets, or it only adds noise
        issues += _check_cycles(t)
    return issues


def _check_ids(t: Template) -> list[_Issue]:
    """Steps and branches share one namespace (``steps.<id>`` in prompts); inputs, loops."""
    issues: list[_Issue] = []
    seen: set[str] = set()
    for i, step in enumerate(t.steps):
        located: list[tuple[str, Loc]] = [(step.id, ("steps", i, "id"))]
        if step.parallel is not None:
            for j, branch in enumerate(step.parallel.branches):
                located.append((branch.id, ("steps", i, "parallel", "branches", j, "id")))
        for ident, loc in located:
            if ident in seen:
                issues.append(_Issue(loc, f"duplicate step id {ident!r}"))
            seen.add(ident)
    for kind, names in (
        ("input", [(("inputs", k, "name"), s.name) for k, s in enumerate(t.inputs)]),
        ("loop name", [(("loops", k, "name"), loop.name) for k, loop in enumerate(t.loops)]),
    ):
        seen = set()
        for loc, name in names:
            if name in seen:
                issues.append(_Issue(loc, f"duplicate {kind} {name!r}"))
            seen.add(name)
    return issues


def _check_targets(t: Template) -> list[_Issue]:
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

    issues: list[_Issue] = []
    if t.start is not None and (found := problem(t.start, allow_end=False)):
        issues.append(_Issue(("start",), found))
    for i, step in enumerate(t.steps):
        for k, rule in enumerate(step.next or []):
            if found := problem(rule.goto):
                issues.append(_Issue(("steps", i, "next", k, "goto"), found))
    for li, loop in enumerate(t.loops):
        for k, member in enumerate(loop.steps):
            if found := problem(member, allow_end=False):
                issues.append(_Issue(("loops", li, "steps", k), found))
            elif member in loop.steps[:k]:
                issues.append(_Issue(("loops", li, "steps", k), f"{member!r} is listed twice"))
        if loop.on_limit.startswith("goto:"):
            if found := problem(loop.limit_target, allow_end=False):
                issues.append(_Issue(("loops", li, "on_limit"), found))
            elif loop.limit_target in loop.steps:
                message = (
                    f"{loop.on_limit} stays inside the loop; on_limit must leave it "
                    "(a step outside the loop, end or fail)"
                )
                issues.append(_Issue(("loops", li, "on_limit"), message))
    return issues


def _check_roles(t: Template) -> list[_Issue]:
    issues: list[_Issue] = []
    used: set[str] = set()
    for i, step in enumerate(t.steps):
        for loc, turn, _ in _turns(step, i):
            assert turn.role is not None
            used.add(turn.role)
            if turn.role not in t.roles:
                message = f"unknown role {turn.role!r}; roles are: {_names(t.roles)}"
                issues.append(_Issue((*loc, "role"), message))
    for name in t.roles:
        if name not in used:
            issues.append(_Issue(("roles", name), f"role {name!r} is not used by any step"))
    return issues


def _check_groups(t: Template) -> list[_Issue]:
    """Outputs only on agent turns; each join has what it needs and nothing it ignores."""
    issues: list[_Issue] = []
    for i, step in enumerate(t.steps):
        if step.outputs and step.kind != "agent":
            message = (
                "outputs are taken from an agent's reply: put them on the branches "
                "(or the arbiter) of a parallel step; a gate has none"
            )
            issues.append(_Issue(("steps", i, "outputs"), message))
        group = step.parallel
        if group is None:
            continue
        here: Loc = ("steps", i, "parallel")
        if group.join == "vote" and group.vote_output is None:
            message = "join: vote needs vote_output (the output voted on)"
            issues.append(_Issue((*here, "join"), message))
        if group.vote_output is not None and group.join != "vote":
            issues.append(_Issue((*here, "vote_output"), "only used with join: vote"))
        elif group.vote_output is not None:
            lacking = [b.id for b in group.branches if group.vote_output not in b.outputs]
            if lacking:
                message = (
                    f"every branch must have the output {group.vote_output!r}; "
                    f"missing in: {_names(lacking)}"
                )
                issues.append(_Issue((*here, "vote_output"), message))
        if group.join == "arbiter" and group.arbiter is None:
            message = "join: arbiter needs an arbiter (role, prompt)"
            issues.append(_Issue((*here, "join"), message))
        if group.arbiter is not None and group.join != "arbiter":
            issues.append(_Issue((*here, "arbiter"), "only used with join: arbiter"))
    return issues


def _check_texts(t: Template) -> list[_Issue]:
    """Jinja2 syntax of every prompt, gate message and condition, and every name they use."""
    issues: list[_Issue] = []
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


# --------------------------------------------------------------------------------------------
# Cycles: every cycle of the step graph must be bounded by a loop


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    loc: Loc


def _edges(t: Template) -> list[_Edge]:
    ids = [step.id for step in t.steps]
    edges: list[_Edge] = []
    for i, step in enumerate(t.steps):
        for k, rule in enumerate(step.next or []):
            if rule.goto in ids:
                edges.append(_Edge(step.id, rule.goto, ("steps", i, "next", k, "goto")))
        if step.next is None and i + 1 < len(ids):
            edges.append(_Edge(step.id, ids[i + 1], ("steps", i)))
    for li, loop in enumerate(t.loops):
        if loop.limit_target in ids:
            # The limit fires on a move into the head from inside the loop.
            for edge in list(edges):
                if edge.target == loop.head and edge.source in loop.steps:
                    edges.append(_Edge(edge.source, loop.limit_target, ("loops", li, "on_limit")))
    return edges


def _sccs(nodes_: list[str], edges: list[_Edge]) -> list[list[str]]:
    """Tarjan's strongly connected components, each in document order."""
    members = set(nodes_)
    adjacent: dict[str, list[str]] = {n: [] for n in nodes_}
    for edge in edges:
        if edge.source in members and edge.target in members:
            adjacent[edge.source].append(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in adjacent[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            found.append([n for n in nodes_ if n in component])

    for node in nodes_:
        if node not in index:
            visit(node)
    return found


def _check_cycles(t: Template) -> list[_Issue]:
    order = {step.id: i for i, step in enumerate(t.steps)}
    edges = _edges(t)
    issues: list[_Issue] = []

    def examine(nodes_: list[str]) -> None:
        for component in _sccs(nodes_, edges):
            inside = [e for e in edges if e.source in component and e.target in component]
            if not inside:
                continue  # a single step without a self-edge: no cycle
            members = set(component)
            covering = [loop for loop in t.loops if members <= set(loop.steps)]
            bounded = [loop for loop in covering if loop.head in members]
            if bounded:
                # Cycles through the head are bounded; look at those that avoid it.
                examine([n for n in component if n != bounded[0].head])
            else:
                issues.append(_cycle_issue(component, inside, covering, order))

    examine([step.id for step in t.steps])
    return issues


def _cycle_issue(
    component: list[str], inside: list[_Edge], covering: list[Loop], order: dict[str, int]
) -> _Issue:
    # A back edge (to the same or an earlier step) exists on every cycle: report the first.
    back = min(
        (e for e in inside if order[e.target] <= order[e.source]),
        key=lambda e: (order[e.source], order[e.target]),
    )
    # Shortest path from the back edge's target to its source closes the cycle.
    previous: dict[str, str | None] = {back.target: None}
    queue = [back.target]
    while queue and back.source not in previous:
        node = queue.pop(0)
        for edge in inside:
            if edge.source == node and edge.target not in previous:
                previous[edge.target] = node
                queue.append(edge.target)
    path: list[str] = []
    walk: str | None = back.source
    while walk is not None:
        path.append(walk)
        walk = previous.get(walk)
    cycle = " → ".join([*path[::-1], back.target])
    if covering:
        heads = ", ".join(f"{loop.name!r} (first step {loop.head!r})" for loop in covering)
        message = (
            f"the cycle {cycle} never passes the first step of loop {heads}, where rounds are "
            f"counted: list one of [{', '.join(component)}] first, or add a `loops:` entry "
            "for this cycle with max_rounds"
        )
    else:
        message = (
            f"the cycle {cycle} has no limit: add a `loops:` entry with "
            f"steps: [{', '.join(component)}] and max_rounds"
        )
    return _Issue(back.loc, message)


# --------------------------------------------------------------------------------------------
# Loading


def _node_line(root: yaml.Node | None, loc: Loc, template_line: int | None) -> int | None:
    """The YAML line of ``loc`` (the key's line for a mapping field), refined by a line inside
    a jinja2 template when the value is a literal block (``|``) or a one-line scalar."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    if template_line is not None and isinstance(node, yaml.ScalarNode):
        if node.style == "|":
            return node.start_mark.line + 1 + template_line
        if node.start_mark.line == node.end_mark.line:
            return node.start_mark.line + 1
    return line


def load_template_file(path: Path, *, text: str | None = None) -> Template:
    """Load and fully validate one template file; ConfigError lists every problem with lines."""
    token = _LOADING_FILE.set(True)
    try:
        template = load_yaml_model(path, Template, text=text)
    finally:
        _LOADING_FILE.reset(token)
    issues = _check(template)
    if issues:
        if text is None:
            text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        problems = [
            ConfigProblem(
                path,
                _node_line(root, issue.loc, issue.template_line),
                ".".join(map(str, issue.loc)),
                issue.message,
            )
            for issue in issues
        ]
        problems.sort(key=lambda p: p.line or 0)
        raise ConfigError(problems)
    return template.model_copy(update={"source": path})


BUILTIN_RESOURCE = "_builtin_templates"  # inside the coder_tui package of an installed wheel


def _builtin_dir() -> Traversable | None:
    packaged = resources.files("coder_tui").joinpath(BUILTIN_RESOURCE)
    if packaged.is_dir():
        return packaged
    checkout = Path(coder_tui.__file__).resolve().parent.parent / "templates"
    return checkout if checkout.is_dir() else None


def builtin_template_files() -> list[Traversable]:
    folder = _builtin_dir()
    if folder is None:
        return []
    found = [e for e in folder.iterdir() if e.name.endswith((".yaml", ".yml")) and e.is_file()]
    return sorted(found, key=lambda entry: entry.name)


def template_dirs(project: Path | None = None) -> list[Path]:
    """Where user templates come from, lowest precedence first (built-ins come before all).

    ``project`` is a project's ``.coder-tui`` folder (the nearest one above the cwd by default),
    as for agent profiles.
    """
    dirs = [paths.config_dir() / "templates"]
    project_dir = project if project is not None else paths.project_dir()
    if project_dir is not None:
        dirs.append(project_dir / "templates")
    return dirs


def load_templates(project: Path | None = None) -> dict[str, Template]:
    """All templates by name: built-ins, then the user's, then the project's (later override).

    Every problem of every file is reported at once (ConfigError), including two files of the
    same folder that define one name.
    """
    sources: list[tuple[Path, str | None, int]] = [
        (Path(str(entry)), entry.read_text(encoding="utf-8"), 0)
        for entry in builtin_template_files()
    ]
    for tier, folder in enumerate(template_dirs(project), start=1):
        if folder.is_dir():
            files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
            sources += [(file, None, tier) for file in files if file.is_file()]
    templates: dict[str, Template] = {}
    tiers: dict[str, int] = {}
    problems: list[ConfigProblem] = []
    for path, text, tier in sources:
        try:
            template = load_template_file(path, text=text)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if tiers.get(template.name) == tier:
            other = templates[template.name].source
            text_now = text if text is not None else path.read_text(encoding="utf-8")
            line = _node_line(yaml.compose(text_now, Loader=yaml.SafeLoader), ("name",), None)
            problems.append(
                ConfigProblem(
                    path, line, "name", f"template {template.name!r} is also defined in {other}"
                )
            )
            continue
        templates[template.name] = template
        tiers[template.name] = tier
    if problems:
        raise ConfigError(problems)
    return templates
