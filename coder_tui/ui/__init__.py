"""The Textual front end: turns core events into widgets and keys into core calls."""

from __future__ import annotations

import os

SCREEN_UPDATE_FPS = "120"


def prepare_textual_environment() -> None:
    """Settings Textual reads once, at import: call before anything imports textual.

    Textual redraws on a fixed clock (60 Hz by default). Panes limit their own frames to
    60 per second, so a faster clock costs nothing while idle and halves the wait between a
    ready row and the screen (measured in benchmarks/key_latency.py).
    """
    os.environ.setdefault("TEXTUAL_FPS", SCREEN_UPDATE_FPS)
