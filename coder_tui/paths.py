"""Where coder-tui keeps its files.

``CODER_TUI_HOME`` (used by every test) puts config and state under one folder; otherwise the
platform's usual places (platformdirs): config for profiles and templates the user adds, state
for run folders. Nothing here ever points into an agent CLI's own configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_path, user_runtime_path, user_state_path

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


def runtime_dir() -> Path:
    """Where the server's socket lives: ``CODER_TUI_HOME``/run, else the user's runtime dir
    (``$XDG_RUNTIME_DIR/coder-tui``, platformdirs' choice elsewhere)."""
    override = home_override()
    if override:
        return override / "run"
    import warnings

    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: platformdirs' /tmp/runtime-UID
        warnings.simplefilter("ignore")
        return user_runtime_path(APP_NAME)


SOCKET_NAME = "server.sock"
# sockaddr_un holds 108 bytes with the terminating NUL on Linux (104 on the BSDs and macOS).
SOCKET_PATH_MAX = 103


def socket_path() -> Path:
    """The server's socket. When the runtime dir makes the path too long for a Unix socket,
    it goes to /tmp/coder-tui-UID/ under a name made from the state dir (one server per state
    dir still), a folder only this user may enter."""
    preferred = runtime_dir() / SOCKET_NAME
    if len(os.fsencode(preferred)) <= SOCKET_PATH_MAX:
        return preferred
    return short_socket_path()


def short_socket_path() -> Path:
    import hashlib

    digest = hashlib.sha256(os.fsencode(state_dir().resolve())).hexdigest()[:16]
    return Path(f"/tmp/coder-tui-{os.getuid()}") / f"{digest}.sock"


def server_lock() -> Path:
    """Held by the running server: one per user and state dir."""
    return state_dir() / "server.lock"


def server_log() -> Path:
    return state_dir() / "server.log"
