"""``coder-tui doctor``: what is installed, what is missing, and whether a run can start.

Read-only by design: it loads the agent profiles, looks each CLI up on PATH and asks it for its
version (with a timeout, its whole process group killed on expiry), and checks the environment
coder-tui itself needs. It writes nothing, touches no agent configuration and uses no network.
Textual is never imported here (only its version is read), so the doctor works even when the
TUI could not start.

Exit codes: 0 when a run could proceed (missing CLIs are reported in their rows), 1 when the
environment itself is broken (Python too old, pyghostty does not load), 2 for broken profile
files or a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from coder_tui.core.safe_text import terminal_safe

if TYPE_CHECKING:
    from coder_tui.core.agents.profile import AgentProfile

PROG = "coder-tui doctor"
VERSION_TIMEOUT = 10.0  # seconds a CLI gets to print its version
MIN_PYTHON = (3, 11)
MIN_NODE = 18
NPM_NOTE = "npm is missing: install Node.js 18+ and npm first, e.g. `apt-get install nodejs npm`"
CONFIG_HINT = "fix the file named above"
BUILTIN_NAME = "fake"  # coder-tui's own agent: it ships with coder-tui and is never run here

AgentStatus = Literal["ready", "untested", "missing", "broken"]
CheckStatus = Literal["ok", "warning", "problem", "info"]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
_MAX_LINE = 200


# --- agents ------------------------------------------------------------------------------------


@dataclass
class AgentReport:
    """One profile's row: is its CLI there, does it answer, how to install it."""

    name: str
    title: str
    command: list[str]
    path: str | None  # resolved executable, None when missing
    version: str | None
    hooks: str
    status: AgentStatus
    install: str  # the profile's exact install command ("" when it has none)
    problem: str | None = None  # why it is broken, or why it is untested
    notes: list[str] = field(default_factory=list)
    checked: str = ""  # the CLI versions the profile was checked with

    @property
    def executable(self) -> str:
        return self.path or "missing"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["executable"] = self.executable
        return data


def substitute(argv: Sequence[str]) -> list[str]:
    """Fill the placeholders a profile command may hold before any prompt is known."""
    return [part.replace("{python}", sys.executable) for part in argv]


def is_builtin(profile: AgentProfile) -> bool:
    return profile.name == BUILTIN_NAME


def check_agent(profile: AgentProfile, *, timeout: float = VERSION_TIMEOUT) -> AgentReport:
    from coder_tui import __version__
    from coder_tui.core.agents.versions import checked_range, fit_warning

    command = substitute(profile.command)
    report = AgentReport(
        name=profile.name,
        title=profile.title,
        command=command,
        path=None,
        version=None,
        hooks=profile.hooks,
        status="missing",
        install=profile.install,
        checked=checked_range(profile) if profile.checked_versions else "",
    )
    if is_builtin(profile):
        # Nothing is run: the fake agent is part of this very installation.
        report.path = sys.executable
        report.version = f"coder-tui {__version__} (built in)"
        report.status = "ready"
        return report
    report.path = shutil.which(command[0])
    if report.path is None:
        report.notes += install_notes(profile.install)
        return report
    if not profile.version_args:
        report.status = "ready"
        report.notes.append("the profile has no version flag: not run")
        return report
    ok, line = run_version([report.path, *command[1:], *substitute(profile.version_args)], timeout)
    if ok:
        report.status = "ready"
        report.version = line or None
        if warning := fit_warning(profile, line):
            report.status = "untested"
            report.problem = warning
    else:
        report.status = "broken"
        report.problem = line
    return report


def install_notes(install: str) -> list[str]:
    if not install:
        return ["the profile names no install command"]
    if install.split()[0] == "npm" and shutil.which("npm") is None:
        return [NPM_NOTE]
    return []


def run_version(argv: list[str], timeout: float) -> tuple[bool, str]:
    """Run ``argv`` with no input; (succeeded, first non-empty output line or the failure).

    The command gets its own session so that on timeout its whole process group is killed:
    a wrapper script's children would otherwise keep the pipes open.
    """
    label = "`" + " ".join([os.path.basename(argv[0]), *argv[1:]]) + "`"
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
            start_new_session=True,
        )
    except OSError as exc:
        return False, f"{label} could not start: {exc.strerror or exc}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return False, f"{label} timed out after {timeout:g}s"
    line = first_line(out) or first_line(err)
    if proc.returncode != 0:
        detail = f": {line}" if line else ""
        return False, f"{label} exited with {_describe_exit(proc.returncode)}{detail}"
    return True, line


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        # Something left the group and still holds a pipe: stop waiting for it.
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return str(code)


def first_line(data: bytes) -> str:
    text = _ANSI.sub("", data.decode("utf-8", errors="replace"))
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"
    return ""


# --- environment -------------------------------------------------------------------------------


@dataclass
class EnvCheck:
    """One fact about the environment; only a "problem" stops a run."""

    key: str
    label: str
    value: str | None
    status: CheckStatus
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "status": self.status, "note": self.note}


def check_python(version: Sequence[int] = tuple(sys.version_info[:3])) -> EnvCheck:
    shown = ".".join(str(part) for part in version)
    if tuple(version[:2]) >= MIN_PYTHON:
        return EnvCheck("python", "Python", shown, "ok", sys.executable)
    needed = ".".join(str(part) for part in MIN_PYTHON)
    return EnvCheck("python", "Python", shown, "problem", f"coder-tui needs Python {needed}+")


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _pinned(name: str) -> str | None:
    """The exact version coder-tui's own metadata pins ``name`` to, if it pins one."""
    try:
        requires = metadata.requires("coder-tui") or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requires:
        match = re.fullmatch(rf"{re.escape(name)}\s*==\s*([^\s;]+)", requirement.strip())
        if match:
            return match.group(1)
    return None


def _pin_note(name: str, version: str) -> tuple[CheckStatus, str]:
    pinned = _pinned(name)
    if pinned is not None and pinned != version:
        return "warning", f"coder-tui is tested with {pinned} (pinned)"
    return "ok", ""


def check_pyghostty() -> list[EnvCheck]:
    version = _dist_version("pyghostty")
    try:
        from coder_tui.core import emulator

        with emulator.Screen(20, 2, scrollback_lines=0) as screen:
            screen.feed(b"doctor")
            if "doctor" not in screen.text():
                raise RuntimeError(f"fed 'doctor', the screen shows {screen.text()!r}")
        raw_ok = bool(emulator._RAW_LAYOUT_OK)
    except Exception as exc:  # any failure to load or use the library breaks every pane
        detail = f"{type(exc).__name__}: {exc}".strip()
        return [EnvCheck("pyghostty", "pyghostty", version, "problem", f"does not load: {detail}")]
    status, note = _pin_note("pyghostty", version) if version else ("ok", "")
    checks = [EnvCheck("pyghostty", "pyghostty", version, status, note or "loads and renders")]
    if raw_ok:
        checks.append(
            EnvCheck("fast_render", "fast render path", "yes", "ok", "matches the pyghostty ABI")
        )
    else:
        checks.append(
            EnvCheck(
                "fast_render",
                "fast render path",
                "no",
                "warning",
                "cell layout differs from this pyghostty: the slower safe path is used",
            )
        )
    return checks


def check_textual() -> EnvCheck:
    version = _dist_version("textual")
    if version is None:
        return EnvCheck("textual", "Textual", None, "problem", "not installed: the TUI cannot run")
    status, note = _pin_note("textual", version)
    return EnvCheck("textual", "Textual", version, status, note)


def check_terminal() -> list[EnvCheck]:
    return [
        EnvCheck(key.lower(), key, os.environ.get(key), "info", "this terminal (informational)")
        for key in ("TERM", "COLORTERM")
    ]


def _tool_version(name: str, args: list[str], timeout: float) -> tuple[str | None, str | None]:
    """(path, version line) of a tool on PATH; version None when it did not answer."""
    path = shutil.which(name)
    if path is None:
        return None, None
    ok, line = run_version([path, *args], timeout)
    return path, (line or None) if ok else None


def check_node(timeout: float) -> list[EnvCheck]:
    checks: list[EnvCheck] = []
    node_path, node_version = _tool_version("node", ["--version"], timeout)
    if node_path is None:
        checks.append(
            EnvCheck("node", "Node.js", None, "info", "not found (npm-installed CLIs need it)")
        )
    else:
        status: CheckStatus = "info"
        note = node_path
        major = re.match(r"v?(\d+)", node_version or "")
        if major and int(major.group(1)) < MIN_NODE:
            status, note = (
                "warning",
                f"{node_path}: the npm-installed CLIs need Node.js {MIN_NODE}+",
            )
        elif node_version is None:
            status, note = "warning", f"{node_path}: `node --version` failed"
        checks.append(EnvCheck("node", "Node.js", node_version, status, note))
    npm_path, npm_version = _tool_version("npm", ["--version"], timeout)
    if npm_path is None:
        checks.append(EnvCheck("npm", "npm", None, "info", "not found (installs the agent CLIs)"))
    else:
        checks.append(EnvCheck("npm", "npm", npm_version, "info", npm_path))
    return checks


def check_tmux(timeout: float) -> EnvCheck:
    path, version = _tool_version("tmux", ["-V"], timeout)
    if path is None:
        return EnvCheck("tmux", "tmux", None, "info", "not found (used only by the benchmarks)")
    return EnvCheck("tmux", "tmux", version, "info", f"{path} (used only by the benchmarks)")


def check_environment(timeout: float = VERSION_TIMEOUT) -> list[EnvCheck]:
    python = check_python()
    if python.status == "problem":
        return [python]  # nothing else of coder-tui can be trusted to import
    return [
        python,
        *check_pyghostty(),
        check_textual(),
        *check_terminal(),
        *check_node(timeout),
        check_tmux(timeout),
    ]


# --- command line ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Check which agent CLIs are installed and whether coder-tui can run here. "
            "Read-only: nothing is written and no network is used."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document instead")
    parser.add_argument(
        "--agents",
        action="append",
        default=[],
        metavar="A,B",
        help="only these profiles (comma-separated, repeatable)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=VERSION_TIMEOUT,
        metavar="SECONDS",
        help=f"how long each version command may take (default {VERSION_TIMEOUT:g})",
    )
    return parser


def exit_code(env: Sequence[EnvCheck], config_errors: Sequence[str]) -> int:
    if config_errors:
        return 2
    return 1 if any(check.status == "problem" for check in env) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    wanted = [name.strip() for raw in args.agents for name in raw.split(",") if name.strip()]

    env = check_environment(args.timeout)
    config_errors: list[str] = []
    reports: list[AgentReport] = []
    if check_python().status == "ok":  # Python is new enough to load the profiles at all
        from coder_tui.core.agents.profile import load_profiles
        from coder_tui.core.yamlfile import ConfigError

        try:
            profiles = load_profiles()
        except ConfigError as exc:
            config_errors = [str(problem) for problem in exc.problems]
        else:
            unknown = [name for name in wanted if name not in profiles]
            if unknown:
                known = ", ".join(sorted(profiles))
                print(
                    f"{PROG}: error: unknown agent {', '.join(unknown)} (known: {known})",
                    file=sys.stderr,
                )
                return 2
            chosen = [profiles[name] for name in (dict.fromkeys(wanted) or sorted(profiles))]
            with ThreadPoolExecutor(max_workers=max(1, min(8, len(chosen)))) as pool:
                reports = list(pool.map(lambda p: check_agent(p, timeout=args.timeout), chosen))

    code = exit_code(env, config_errors)
    try:
        if args.json:
            document = {
                "ok": code == 0,
                "exit_code": code,
                "config_errors": config_errors,
                "agents": [report.to_json() for report in reports],
                "env": {check.key: check.to_json() for check in env},
            }
            print(json.dumps(document, indent=2), flush=True)
        else:
            render(_Console(), reports, env, config_errors, code)
            sys.stdout.flush()
    except BrokenPipeError:  # `coder-tui doctor | head`: the reader left, the verdict stands
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


# --- human output ------------------------------------------------------------------------------


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader left (`| head`): stop writing but keep the exit code (rich exits 1)."""
        self.quiet = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _shown(text: str, style: str = "") -> Text:
    """Profile text, file errors quoting a file, a CLI's answer: printed as they read, their
    control characters as visible escapes (a version's colours are stripped before)."""
    return Text(terminal_safe(text), style=style)


_AGENT_STYLE = {"ready": "green", "untested": "yellow", "missing": "yellow", "broken": "red"}
_CHECK_STYLE = {"ok": "green", "warning": "yellow", "problem": "bold red", "info": "dim"}


def render(
    console: Console,
    reports: Sequence[AgentReport],
    env: Sequence[EnvCheck],
    config_errors: Sequence[str],
    code: int,
) -> None:
    if config_errors:
        console.print(Text("Broken profile files:", style="bold red"))
        for line in config_errors:
            console.print(_shown(f"  {line}"))
        console.print(Text(f"To go on, {CONFIG_HINT} and run `{PROG}` again.", style="bold"))
        console.print()
    if reports:
        console.print(_agent_table(reports))
        _print_followups(console, reports)
    console.print(_env_table(env))
    console.print(_summary(reports, code))


def _agent_table(reports: Sequence[AgentReport]) -> Table:
    table = Table(title="Agents", title_justify="left", expand=False)
    for column in ("Name", "Title", "Status", "Version", "Checked with", "Hooks"):
        table.add_column(column, no_wrap=column not in ("Version", "Checked with"))
    table.add_column("Executable", overflow="fold")
    for report in reports:
        table.add_row(
            _shown(report.name, style="bold"),
            _shown(report.title),
            Text(report.status, style=_AGENT_STYLE[report.status]),
            _shown(report.version or "-"),
            _shown(report.checked or "-"),
            _shown(report.hooks),
            _shown(report.executable, style="" if report.path else "yellow"),
        )
    return table


def _print_followups(console: Console, reports: Sequence[AgentReport]) -> None:
    missing = [r for r in reports if r.status == "missing"]
    broken = [r for r in reports if r.status == "broken"]
    untested = [r for r in reports if r.status == "untested"]
    if missing:
        console.print(Text("To install the missing CLIs:", style="bold"))
        for report in missing:
            who = f"{report.name} ({report.title})" if report.title else report.name
            line = _shown(f"  {who}: ")
            line.append_text(_shown(report.install or "-", style="cyan"))
            console.print(line)
            for note in report.notes:
                console.print(_shown(f"    {note}", style="yellow"))
    if broken:
        console.print(Text("Broken (installed, but the version command failed):", style="bold"))
        for report in broken:
            console.print(_shown(f"  {report.name}: {report.problem}"))
    if untested:
        console.print(Text("Installed, but not a version the profile was checked with:", "bold"))
        for report in untested:
            console.print(_shown(f"  {report.name}: {report.problem}"))
    if missing or broken or untested:
        console.print()


def _env_table(env: Sequence[EnvCheck]) -> Table:
    table = Table(title="Environment", title_justify="left", expand=False)
    table.add_column("Check", no_wrap=True)
    table.add_column("Value")
    table.add_column("Status", no_wrap=True)
    table.add_column("Note", overflow="fold")
    for check in env:
        table.add_row(
            _shown(check.label),
            _shown(check.value or "-"),
            Text(check.status, style=_CHECK_STYLE[check.status]),
            _shown(check.note),
        )
    return table


def _summary(reports: Sequence[AgentReport], code: int) -> Text:
    if code == 2:
        return Text(f"Profile files are broken: {CONFIG_HINT}.", style="bold red")
    if code == 1:
        return Text(
            "The environment is broken: coder-tui cannot run (see above).", style="bold red"
        )
    ready = sum(r.status == "ready" for r in reports)
    untested = sum(r.status == "untested" for r in reports)
    summary = f"Environment OK; {ready} of {len(reports)} agent CLIs ready"
    if untested:
        return Text(f"{summary}, {untested} untested (see above).", style="bold yellow")
    return Text(f"{summary}.", style="bold green")


if __name__ == "__main__":
    sys.exit(main())
