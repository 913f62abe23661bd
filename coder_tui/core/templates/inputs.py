"""A run's input values from what its user gave, by one rule for every way to start a run (the
command line, the picker, the demo): the task fills the ``task`` input, an empty value takes
the input's default, a required input must end up non-empty, and a name the template does not
have is refused. Each front end words the problems its own way from InputError's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from coder_tui.core.templates.base import TemplateError
from coder_tui.core.templates.model import InputSpec, Template

TASK_INPUT = "task"  # the input a run's task fills (`--task`); every built-in template has it


class InputError(TemplateError):
    """Inputs a run cannot start with: ``missing`` (required inputs left without a value) and
    ``unknown`` (given names the template has no input for), kept apart so that a form can
    mark its fields and a command line can name its flags."""

    def __init__(
        self, template: Template, missing: Sequence[InputSpec], unknown: Sequence[str]
    ) -> None:
        self.template_name = template.name
        self.known = tuple(spec.name for spec in template.inputs)
        self.missing = tuple(missing)
        self.unknown = tuple(unknown)
        super().__init__(self.describe())

    def describe(self, how: Callable[[str], str] | None = None) -> str:
        """Every problem in one line. ``how(name)`` says how to give a missing input (such as
        "pass --task"); without it the input's description follows its name."""
        parts: list[str] = []
        if self.unknown:
            known = ", ".join(sorted(self.known)) or "none"
            parts.append(f"has no input {', '.join(self.unknown)} (its inputs: {known})")
        for spec in self.missing:
            if how is not None:
                parts.append(f"needs {spec.name}: {how(spec.name)}")
            elif spec.description:
                parts.append(f"needs {spec.name} ({spec.description})")
            else:
                parts.append(f"needs {spec.name}")
        return f"template {self.template_name} " + "; ".join(parts)


def resolve_inputs(
    template: Template, given: Mapping[str, str], task: str | None = None
) -> dict[str, str]:
    """A value for every input of ``template``, in its order, from ``given`` (name -> value)
    and ``task`` (the value of the ``task`` input).

    A value that is empty or only blank counts as not given: the input's default replaces it
    ("" without one). InputError names every required input still empty and every given name
    the template does not have; TemplateError when ``task`` and ``given`` both set the task,
    differently.
    """
    values = dict(given)
    if task is not None:
        if values.get(TASK_INPUT, task) != task:
            raise TemplateError(
                f"template {template.name}: input {TASK_INPUT} is given twice, as the task "
                f"({task!r}) and by name ({values[TASK_INPUT]!r}); give it once"
            )
        values[TASK_INPUT] = task
    known = {spec.name for spec in template.inputs}
    unknown = sorted(name for name in values if name not in known)
    resolved: dict[str, str] = {}
    missing: list[InputSpec] = []
    for spec in template.inputs:
        value = values.get(spec.name, "")
        if not value.strip():
            value = spec.default if spec.default is not None else ""
        if spec.required and not value.strip():
            missing.append(spec)
        resolved[spec.name] = value
    if missing or unknown:
        raise InputError(template, missing, unknown)
    return resolved
