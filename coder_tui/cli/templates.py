"""``coder-tui templates``: the workflow templates (built-in, the user's, the project's).

A project's templates come with the project (a cloned repository): their text goes in as
``Text`` through ``terminal_safe``, never as rich markup or raw control characters."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from coder_tui import paths
from coder_tui.cli.common import UsageError, fail, known_templates
from coder_tui.core.safe_text import terminal_safe


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui templates", description="List templates.")
    parser.parse_args(argv)
    try:
        templates = known_templates(paths.project_dir())
    except UsageError as exc:
        return fail(str(exc))
    table = Table(title="workflow templates")
    for column in ("name", "category", "title", "roles (preferred CLIs)", "from"):
        table.add_column(column)
    for template in sorted(templates.values(), key=lambda t: (t.category, t.name)):
        roles = "; ".join(f"{r}: {'/'.join(s.prefer)}" for r, s in template.roles.items())
        cells = (template.name, template.category, template.title, roles, template.source or "")
        table.add_row(*(Text(terminal_safe(str(cell))) for cell in cells))
    Console().print(table)
    return 0
