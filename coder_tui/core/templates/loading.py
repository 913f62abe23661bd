"""Reading template files: one file validated with ``file:line: field: message`` problems, and
every template by name from the built-ins, the user's config folder and the project's.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from coder_tui import paths
from coder_tui.core.templates.base import Loc
from coder_tui.core.templates.checks import cross_field_issues
from coder_tui.core.templates.model import LOADING_FILE, Template
from coder_tui.core.yamlfile import ConfigError, ConfigProblem, load_yaml_model


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
    token = LOADING_FILE.set(True)
    try:
        template = load_yaml_model(path, Template, text=text)
    finally:
        LOADING_FILE.reset(token)
    issues = cross_field_issues(template)
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


BUILTIN_RESOURCE = "data/templates"  # inside the coder_tui package, in a wheel as in a checkout


def _builtin_dir() -> Traversable | None:
    folder = resources.files("coder_tui").joinpath(BUILTIN_RESOURCE)
    return folder if folder.is_dir() else None


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
