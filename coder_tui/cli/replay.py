"""``coder-tui replay RUN``: re-show a run's channel and timeline from its folder.

Everything it prints comes from the run's files, which hold agent text: it goes out through
``inert_text`` (control characters as escapes, brackets never rich markup)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from rich.console import Console

from coder_tui import paths
from coder_tui.cli.common import fail


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="coder-tui replay", description="Re-show a run.")
    parser.add_argument("run")
    parser.add_argument(
        "--speed", type=float, default=0.0, help="replay at N x real time (0: all at once)"
    )
    args = parser.parse_args(argv)
    from coder_tui.core.runs import RunStore
    from coder_tui.headless import ChannelPrinter, inert_text, print_summary

    try:
        store = RunStore.open(args.run, paths.runs_dir())
    except (FileNotFoundError, ValueError, LookupError) as exc:
        return fail(str(exc))
    console = Console(highlight=False)
    printer = ChannelPrinter(console)
    console.rule(inert_text(f"replay of {store.state.run_id}: {store.state.template}"))
    previous: float | None = None
    for message in store.channel.messages:
        if args.speed > 0 and previous is not None:
            time.sleep(max(0.0, min(5.0, (message.at - previous) / args.speed)))
        previous = message.at
        printer(message)
    console.rule("timeline")
    start = store.state.started
    for event in store.events():
        detail = ", ".join(f"{k}={v}" for k, v in event.items() if k not in {"seq", "at", "kind"})
        line = inert_text(f"+{event['at'] - start:7.1f} s  {event['kind']}  ")
        line.append_text(inert_text(detail[:120], "dim"))
        console.print(line)
    print_summary(console, store)
    return 0
