"""Where coder-tui keeps its files.

``CODER_TUI_HOME`` (used by every test) puts config and state under one folder; otherwise the
platform's usual places (platformdirs): config for profiles and templates the user adds, state
for run folders. Nothing here ever points into an agent CLI's own configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_path, user_state_path

APP_NAME = "coder-tui"
PROJECT_DIR_NAME = ".coder-tui"  # per-project additions: agents/, templates/


def home_override() -> Path | None:
    value = os.environ.get("CODER_TUI_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """User configuration: config.yaml, agents/*.yaml, templates/*.yaml."""
    override = home_override()
    return override / "config" if override else user_config_path(APP_NAME)


def config_file() -> Path:
    """The user's settings (keymap, default agents, policies); missing means the defaults."""
    return config_dir() / "config.yaml"


def state_dir() -> Path:
    """Run folders and other state the app writes."""
    override = home_override()
    return override / "state" if override else user_state_path(APP_NAME)


def runs_dir() -> Path:
    return state_dir() / "runs"


def project_dir(start: Path | None = None) -> Path | None:
    """The nearest ``.coder-tui`` folder at or above ``start`` (the cwd by default)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_DIR_NAME
        if candidate.is_dir():
            return candidate
    return None
