"""The pydantic models of a template file: Template, its inputs, roles, steps (agent turns,
parallel groups, gates), ``next`` rules, loops and limits.

Each field is checked here as pydantic reads it; what needs the whole template (ids, targets,
names used in jinja2, cycles) is ``checks``, which Template's validator runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from coder_tui.core.templates.base import ANY_AGENT, END, FAIL, TemplateError
from coder_tui.core.templates.checks import cross_field_issues
from coder_tui.core.templates.rendering import eval_condition

STEP_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
NAME_PATTERN = r"^[a-z][a-z0-9-]*$"
_IDENT_PATTERN = r"^[a-z_][a-z0-9_]*$"  # usable as inputs.NAME / outputs.NAME in jinja2
_PROFILE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")


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


def choice_words(text: str) -> list[str]:
    """The words a value and an output's ``choices`` are compared by (see OutputSpec)."""
    return re.findall(r"[A-Za-z0-9]+", text.upper())


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
            if not choice_words(choice):
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
LOADING_FILE: ContextVar[bool] = ContextVar("LOADING_FILE", default=False)


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
        if LOADING_FILE.get():
            raise PydanticCustomError("extra_forbidden", "Extra inputs are not permitted")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        if not LOADING_FILE.get():
            issues = cross_field_issues(self)
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
