"""Command line of coder-tui: one module per subcommand, imported only when it runs.

``coder-tui [--agents ...] [--cmd ...]`` opens the TUI (``tui``); ``coder-tui doctor`` checks
the agent CLIs; ``coder-tui hook`` is what agent CLIs call at each event (it must start fast,
so nothing but the standard library is imported on its way); the workflow commands are
``run``, ``resume``, ``runs``, ``replay``, ``templates`` and ``demo``; ``config`` shows the
user's settings. Errors a user can cause end in one clear message and exit code 2, before
anything starts.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# Subcommands with a module of their own in this package; doctor and hook live outside it.
_MODULES = ("run", "resume", "runs", "replay", "templates", "demo", "config", "server")
# Verbs over the server's API (cli/verbs.py), and attaching to it (cli/attach.py).
_VERBS = ("ls", "status", "send", "post", "pause", "step", "cancel", "approve", "deny")
SUBCOMMANDS = {"doctor", "hook", "attach", "proxy", *_MODULES, *_VERBS}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in SUBCOMMANDS:
        return _subcommand(args_list[0], args_list[1:])
    from coder_tui.cli.tui import main as tui_main

    return tui_main(args_list)


def _subcommand(name: str, argv: list[str]) -> int:
    if name == "doctor":
        from coder_tui.doctor import main as doctor_main

        return doctor_main(argv)
    if name == "hook":
        from coder_tui.hook import main as hook_main

        return hook_main(argv)
    if name in _VERBS:
        from coder_tui.cli.verbs import run_verb

        return run_verb(name, argv)
    if name in ("attach", "proxy"):
        from coder_tui.cli.attach import attach_main, proxy_main

        return attach_main(argv) if name == "attach" else proxy_main(argv)
    module = importlib.import_module(f"coder_tui.cli.{name}")
    code: int = module.main(argv)
    return code
