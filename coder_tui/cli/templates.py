"""``coder-tui templates``: the workflow templates (built-in, the user's, the project's)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from coder_tui import paths
from coder_tui.cli.common import UsageError, fail, known_templates


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
        table.add_row(
            template.name, template.category, template.title, roles, str(template.source or "")
        )
    Console().print(table)
    return 0
