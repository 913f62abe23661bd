"""Command line of coder-tui.

Errors a user can cause end in one clear message and exit code 2, before anything starts.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from coder_tui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coder-tui",
        description="Run coding-agent CLIs (or any commands) side by side in terminal panes.",
        epilog=(
            "Keys: ctrl+] leaves the focused pane; then arrows/tab select, enter enters, "
            "m maximises, 1-9 jump to a pane, q quits. ctrl+q quits from anywhere."
        ),
    )
    parser.add_argument(
        "--cmd",
        action="append",
        default=[],
        metavar="COMMAND",
        help="a command to run in its own pane (repeatable), split like a shell would",
    )
    parser.add_argument("--cwd", default=None, help="working folder of the commands")
    parser.add_argument("--version", action="version", version=f"coder-tui {__version__}")
    return parser


def parse_commands(raw: Sequence[str]) -> list[list[str]]:
    """Shell-split each --cmd; a blank or unbalanced one is a usage error."""
    commands: list[list[str]] = []
    for text in raw:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise SystemExit(_usage_error(f"--cmd {text!r}: {exc}")) from None
        if not argv:
            raise SystemExit(_usage_error("--cmd needs a command, got an empty string"))
        commands.append(argv)
    return commands


def _usage_error(message: str) -> int:
    print(f"coder-tui: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = parse_commands(args.cmd)
    if not commands:
        from coder_tui.core.session import default_shell

        commands = [default_shell()]
    from coder_tui.ui.app import CoderTuiApp

    app = CoderTuiApp(commands, cwd=args.cwd)
    try:
        app.run()
    finally:
        app.kill_sessions_now()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
