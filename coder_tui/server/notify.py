"""Telling the user, once per event, that something needs them or is over.

An agent asks for approval, a gate waits, an agent crashes, a run ends: the server sends a
desktop notification (``notify-send``, when there is one and a desktop session to show it)
and runs the user's ``notifications.command`` (to push to a phone, say), as config.yaml says.
Each runs once per event, however many clients are attached (they ring their own terminal).
The config is read at each event, so a change applies without a restart; a broken file is
logged and notifies nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

from coder_tui.core.config import Notifications, load_config
from coder_tui.core.safe_text import terminal_safe
from coder_tui.core.yamlfile import ConfigError
from coder_tui.server.protocol import Notice

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 30.0


def settings() -> Notifications | None:
    try:
        return load_config().notifications
    except ConfigError as exc:
        log.warning("notifications off: %s", exc)
        return None


async def notify(notice: Notice) -> None:
    """The desktop notification and the user's command for ``notice``, as configured."""
    config = settings()
    if config is None or notice.kind not in config.events:
        return
    text = terminal_safe(notice.text)
    env = {
        **os.environ,
        "CODER_TUI_EVENT": notice.kind,
        "CODER_TUI_SESSION": notice.session,
        "CODER_TUI_TEXT": text,
    }
    runs = []
    desktop = shutil.which("notify-send")
    has_desktop = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if config.desktop and desktop and has_desktop:
        runs.append([desktop, "--app-name=coder-tui", "coder-tui", text])
    if config.command:
        runs.append([*config.command, text])
    for argv in runs:
        await _run(argv, env)


async def _run(argv: list[str], env: dict[str, str]) -> None:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        log.warning("notification command %s cannot start: %s", argv[0], exc)
        return
    try:
        _, error = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        process.kill()
        log.warning("notification command %s took over %.0f s", argv[0], COMMAND_TIMEOUT)
        return
    if process.returncode:
        said = error.decode(errors="replace").strip()[:500]
        log.warning("notification command %s failed (%s): %s", argv[0], process.returncode, said)
