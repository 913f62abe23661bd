"""``coder-tui runs [--stats]``: the past runs, or figures over all of them.

The cells come from run files: an outcome can quote an agent, a template name a project's file.
Each goes in as ``Text`` through ``terminal_safe``: no control sequence reaches the terminal and
no bracket is read as rich markup."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from coder_tui import paths
from coder_tui.core.safe_text import terminal_safe


def _cell(value: object) -> Text:
    """A table cell shown exactly as it reads (see the module's docstring)."""
    return Text(terminal_safe(str(value)))


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui runs", description="List past runs.")
    parser.add_argument("--stats", action="store_true", help="aggregate figures over all runs")
    args = parser.parse_args(argv)
    from coder_tui.core.runs import list_runs, run_stats

    console = Console(highlight=False)
    if args.stats:
        stats = run_stats(paths.runs_dir())
        table = Table(title="runs: statistics")
        table.add_column("figure")
        table.add_column("value")
        for key, value in stats.items():
            table.add_row(_cell(key), _cell(value))
        console.print(table)
        return 0
    runs = list_runs(paths.runs_dir())
    if not runs:
        console.print(_cell(f"no runs yet in {paths.runs_dir()}"))
        return 0
    table = Table(title=_cell(f"runs in {paths.runs_dir()}"))
    # The id is what resume and replay take: never cut or wrapped, however narrow the output.
    table.add_column("id", no_wrap=True, min_width=max(len(run.id) for run in runs))
    table.add_column("template", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("started", "duration", "outcome"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            _cell(run.id),
            _cell(run.template or "(agents only)"),
            _cell(run.status),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)),
            f"{run.duration:.0f} s" if run.duration is not None else "",
            _cell(run.outcome or ""),
        )
    console.print(table)
    return 0
