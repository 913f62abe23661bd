"""Load YAML into pydantic models with errors a user can act on: file, line and field.

Profiles and templates are hand-written YAML; "validation error at rules.2.match" is not
enough, so each pydantic error location is mapped back to the YAML node it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
# A problem found after validation, at a field's location: (("keymap", "pane.next"), "...").
Issue: TypeAlias = tuple[Sequence[str | int], str]


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a file, located for the user."""

    path: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(Exception):
    """A file could not be loaded; ``problems`` says where and why, each on its own line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_yaml_model(
    path: Path,
    model: type[ModelT],
    *,
    text: str | None = None,
    check: Callable[[ModelT], Iterable[Issue]] | None = None,
) -> ModelT:
    """Parse ``path`` and validate it as ``model``; raise ConfigError naming file/line/field.

    ``check`` finds what the model alone cannot know (a name another module defines); each
    issue it returns is located like a validation error.
    """
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([ConfigProblem(path, None, "", exc.strerror or str(exc))]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(path, line, "", f"YAML syntax: {problem}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(path, 1, "", "expected a mapping at the top level")])
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [_problem(path, node, err) for err in exc.errors(include_url=False)]
        ) from None
    issues = list(check(value)) if check is not None else []
    if issues:
        raise ConfigError([_issue_problem(path, node, loc, message) for loc, message in issues])
    return value


def _issue_problem(
    path: Path, root: yaml.Node | None, loc: Sequence[str | int], message: str
) -> ConfigProblem:
    node, _ = _locate(root, list(loc))
    line = node.start_mark.line + 1 if node is not None else None
    return ConfigProblem(path, line, ".".join(str(part) for part in loc), message)


def _problem(path: Path, root: yaml.Node | None, err: Any) -> ConfigProblem:
    loc = [part for part in err["loc"] if not _is_union_tag(part)]
    field = ".".join(str(part) for part in loc)
    node, exact = _locate(root, loc)
    line = node.start_mark.line + 1 if node is not None else None
    message = str(err["msg"])
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    elif err["type"] == "missing" and not exact:
        message = "required field is missing"
    return ConfigProblem(path, line, field, message)


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the union member's name into the location ("function-after[...]", "str").
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})


def _locate(node: yaml.Node | None, loc: list[Any]) -> tuple[yaml.Node | None, bool]:
    """The deepest node along ``loc``; ``exact`` is False when the path ends early (missing)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    # For an unknown field point at the key itself.
                    node = value if part != loc[-1] else key
                    break
            else:
                return node, False
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node, False
            node = node.value[part]
        else:
            return node, False
    return node, True
