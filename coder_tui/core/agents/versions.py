"""Which version of a CLI is installed, and whether its profile was checked with it.

The CLIs ship weekly and change their screens (Claude Code 2.1.332 changed its idle footer):
a profile records the versions it was checked against, and every place that shows a CLI
(``doctor``, the launch record, a start that does not become ready) says when the installed
version is outside that range instead of calling it simply "ready".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from enum import StrEnum

from coder_tui.core.agents.profile import AgentProfile

VERSION_TIMEOUT = 10.0  # seconds a CLI gets to print its version
_VERSION = re.compile(r"\d+(?:\.\d+)+")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


class Fit(StrEnum):
    CHECKED = "checked"  # within the profile's checked range
    NEWER = "newer"  # newer than the last version checked
    OLDER = "older"  # older than the first version checked
    UNKNOWN = "unknown"  # no range in the profile, or no version could be read


def version_number(text: str | None) -> str | None:
    """The first dotted number in a ``--version`` line ("2.1.332 (Claude Code)" -> "2.1.332")."""
    if not text:
        return None
    match = _VERSION.search(_ANSI.sub("", text))
    return match.group(0) if match else None


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def fit(profile: AgentProfile, version: str | None) -> Fit:
    checked = profile.checked_versions
    number = version_number(version)
    if checked is None or number is None:
        return Fit.UNKNOWN
    if _key(number) > _key(checked.max):
        return Fit.NEWER
    if _key(number) < _key(checked.min):
        return Fit.OLDER
    return Fit.CHECKED


def checked_range(profile: AgentProfile) -> str:
    checked = profile.checked_versions
    if checked is None:
        return "no versions recorded"
    return checked.min if checked.min == checked.max else f"{checked.min} to {checked.max}"


def fit_warning(profile: AgentProfile, version: str | None) -> str | None:
    """One sentence for a version outside the checked range, else None."""
    verdict = fit(profile, version)
    checked = profile.checked_versions
    if checked is None or verdict in (Fit.CHECKED, Fit.UNKNOWN):
        return None
    name = profile.title or profile.name
    if verdict is Fit.NEWER:
        where = f"newer than the last version checked ({checked.max})"
    else:
        where = f"older than the first version checked ({checked.min})"
    return f"untested: {name} {version_number(version)} is {where}; the profile may not fit it"


# Versions already read in this process, by executable identity: a CLI is asked once, not on
# every restart of an agent (Gemini's node start alone costs about a second).
_cache: dict[tuple[str, int, int], str | None] = {}


def _identity(executable: str) -> tuple[str, int, int] | None:
    try:
        real = os.path.realpath(executable)
        stat = os.stat(real)
    except OSError:
        return None
    return real, stat.st_mtime_ns, stat.st_size


async def probe_version(
    argv: list[str], env: dict[str, str] | None = None, limit: float = VERSION_TIMEOUT
) -> str | None:
    """The first output line of ``argv`` (the CLI with its version flag), or None when it
    fails or takes longer than ``limit`` seconds; its process group is killed then."""
    identity = _identity(argv[0])
    if identity is not None and identity in _cache:
        return _cache[identity]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**(env or os.environ), "NO_COLOR": "1"},
            start_new_session=True,
        )
    except OSError:
        return None
    try:
        async with asyncio.timeout(limit):
            out, _ = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)
        await proc.wait()
        return None
    line = next(
        (
            part.strip()
            for part in _ANSI.sub("", out.decode(errors="replace")).splitlines()
            if part.strip()
        ),
        None,
    )
    result = line if proc.returncode == 0 else None
    if identity is not None:
        _cache[identity] = result
    return result
