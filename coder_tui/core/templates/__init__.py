"""Workflow templates: the steps an operator runs over agents, as validated data.

This package's modules, lowest first: ``base`` (the error, reserved targets), ``rendering``
(the jinja2 sandbox), ``cycles`` and ``checks`` (the cross-field checks), ``model`` (the
pydantic models), ``inputs`` (a run's input values), ``runtime`` (outputs, votes, roles and
loops during a run) and ``loading`` (template files and folders). Import the names below from
the package itself.

A template names **roles** (filled by launched agents, chosen by profile preference), a list of
**steps** (an agent's turn, a parallel group of turns, or a human approval gate), the routing
between them (``next`` rules with sandboxed jinja2 conditions) and **loops** that bound every
cycle. Built-in templates ship in the package (``coder_tui/data/templates/``); users add or
override them by name in ``<config>/templates/*.yaml`` and in a project's
``.coder-tui/templates/*.yaml``.

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

from coder_tui.core.templates.base import END, FAIL, TemplateError
from coder_tui.core.templates.inputs import TASK_INPUT, InputError, resolve_inputs
from coder_tui.core.templates.loading import (
    builtin_template_files,
    load_template_file,
    load_templates,
    template_dirs,
)
from coder_tui.core.templates.model import (
    Arbiter,
    Branch,
    Category,
    Gate,
    InputSpec,
    Limits,
    Loop,
    NextRule,
    OutputSpec,
    ParallelGroup,
    Role,
    Step,
    Template,
    Turn,
)
from coder_tui.core.templates.rendering import eval_condition, render_prompt
from coder_tui.core.templates.runtime import (
    LoopTracker,
    assign_roles,
    extract_outputs,
    fill_roles,
    resolve_roles,
    vote,
)

__all__ = [
    "END",
    "FAIL",
    "TASK_INPUT",
    "Arbiter",
    "Branch",
    "Category",
    "Gate",
    "InputError",
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
    "assign_roles",
    "builtin_template_files",
    "eval_condition",
    "extract_outputs",
    "fill_roles",
    "load_template_file",
    "load_templates",
    "render_prompt",
    "resolve_inputs",
    "resolve_roles",
    "template_dirs",
    "vote",
]
