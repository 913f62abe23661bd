"""Named crash points, for the tests that kill coder-tui at a chosen moment.

``CODER_TUI_CRASH_AT=NAME[:N]`` makes the process SIGKILL itself (its whole process group, as
a power cut or ``kill -9`` of the group would) the N-th time (default: the first) it passes the
point NAME. Without the variable a crash point costs one dictionary lookup. The points:

- ``delivered``: an agent's CLI took a step's prompt and the ``delivered`` event is on disk
- ``reply_posted``: a step's reply is in the channel, its outputs and next step not yet saved
- ``save``: run.json's new content is written to the temporary file, not yet put in place
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "CODER_TUI_CRASH_AT"
POINTS = frozenset({"delivered", "reply_posted", "save"})


def _wanted() -> tuple[str, int] | None:
    value = os.environ.get(CRASH_ENV, "")
    if not value:
        return None
    name, _, count = value.partition(":")
    if name not in POINTS:
        raise ValueError(f"{CRASH_ENV}={value}: no crash point {name!r} (known: {sorted(POINTS)})")
    return name, int(count or "1")


_WANTED = _wanted()
_passed: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here if the test asked for it (see the module docstring)."""
    if _WANTED is None or _WANTED[0] != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == _WANTED[1]:
        os.killpg(os.getpgrp(), signal.SIGKILL)
