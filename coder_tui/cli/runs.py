"""``coder-tui runs [--stats]``: the past runs, or figures over all of them."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from coder_tui import paths


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
            table.add_row(str(key), str(value))
        console.print(table)
        return 0
    runs = list_runs(paths.runs_dir())
    if not runs:
        console.print(f"no runs yet in {paths.runs_dir()}")
        return 0
    table = Table(title=f"runs in {paths.runs_dir()}")
    # The id is what resume and replay take: never cut or wrapped, however narrow the output.
    table.add_column("id", no_wrap=True, min_width=max(len(run.id) for run in runs))
    table.add_column("template", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("started", "duration", "outcome"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.id,
            run.template or "(agents only)",
            str(run.status),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)),
            f"{run.duration:.0f} s" if run.duration is not None else "",
            run.outcome or "",
        )
    console.print(table)
    return 0
