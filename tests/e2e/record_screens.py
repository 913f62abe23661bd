"""Record the real CLIs' screens into the corpus the unit tests read (``tests/data/screens``).

For every CLI found in ``--clis DIR`` (``claude``, ``codex``, ``gemini``), its version is read
(``X --version``) and its screens are recorded the way coder-tui launches it (``prepare_launch``
with the built-in profile), against the fake model server, in a throwaway HOME, in a
:class:`~coder_tui.core.session.TerminalSession` of 120x40:

- ``start``: the first quiet screen after launch, whatever it shows;
- ``idle``: coder-tui's own launch ready at its prompt; ``idle_cli_default``: the CLI's own default
  permission mode (no asking flag); ``idle_mode_*`` / ``idle_ask_*`` / ``idle_sandbox_*``: each
  permission mode the CLI's ``--help`` lists; ``idle_skip_approvals``: the skip-permission flag;
- ``busy``: while the fake server holds a reply stream open; ``idle_after_turn``: the reply shown;
- ``approval``: a file write waiting for permission; ``denied``: back at the prompt after Esc;
- Claude only, at 160x45: ``wide_approval`` and ``wide_after_edit`` (the diff side panel that
  2.1.332 opens after a file change at that width).

Each screen is ``screen.text()`` once it has been quiet (conditions with deadlines, never bare
sleeps); the recorder's own markers (``READY`` and ``APPROVAL`` below) say when a state is
reached, not the profiles that the corpus checks. A state whose marker never showed is still
written, with ``expect: "any"``, and reported. Volatile parts are normalised (see ``NORMALISE``):
spinner glyphs and verbs, elapsed seconds and token counts.

    .venv/bin/python -m tests.e2e.record_screens --clis DIR [--out tests/data/screens]
        [--only claude,codex,gemini] [--work /tmp/ctui-rec]

Paths on screen are kept the same from run to run by working in a fixed folder (``--work``,
emptied first), so that re-recording a version gives a near-empty diff.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coder_tui.core.agents.launch import prepare_launch
from coder_tui.core.agents.profile import AgentProfile, builtin_profile_files
from coder_tui.core.agents.versions import version_number
from coder_tui.core.session import TerminalSession
from coder_tui.core.yamlfile import load_yaml_model
from tests.e2e.conftest import LEAKY_PREFIXES, make_project
from tests.e2e.fake_model import Api, FakeModelServer, Reply, Turn, WriteFile
from tests.e2e.homes import Cli, base_env, cli_home
from tests.e2e.proxy import CODEX_TIP_HOST, RefusingProxy

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "tests" / "data" / "screens"
DEFAULT_WORK = Path("/tmp/ctui-rec")
CLIS: tuple[Cli, ...] = ("claude", "codex", "gemini")
API: dict[str, Api] = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}
SIZE = (120, 40)
WIDE = (160, 45)  # Claude 2.1.332 opens a diff side panel after a file change at this width
NARROW = (60, 30)  # a pane beside others and the channel: footers wrap onto a second row

STARTUP = 60.0  # seconds: a cold start on a loaded 2-core machine
QUIET = 2.0  # seconds without a screen change that make a screen "quiet"
BUSY_QUIET = 1.0  # the busy screen, normalised (its spinner moves), unchanged this long
BUSY_HOLD = 15.0  # seconds the fake server holds the busy reply's stream open
TURN = 60.0
SUBMIT_RETRY = 3.0  # seconds to wait for the request before pressing Enter again
SESSION_ID = str(uuid.UUID(int=0x5C2EE2))  # fixed, so nothing on screen depends on a random id

# The recorder's own signs that a state is reached (not the profiles' rules: those are what the
# corpus checks). A new version may change them; then the state is recorded as "any".
READY: dict[str, re.Pattern[str]] = {
    "claude": re.compile(r"^❯(?! \d\.)", re.M),
    "codex": re.compile(r"^› ", re.M),
    "gemini": re.compile(r"^\s*[>*]\s+\S|Type your message", re.M),
}
APPROVAL: dict[str, re.Pattern[str]] = {
    "claude": re.compile(r"Do you want to|❯ 1\. Yes"),
    "codex": re.compile(r"Would you like to|Yes, proceed"),
    "gemini": re.compile(r"Apply this change|Allow once"),
}
BUSY_PROMPT = "Say the busy reply."
BUSY_REPLY = "The busy reply is complete now."
REPLY_PROMPT = "Say the reply."
# Codex stops showing its spinner as soon as text streams: its held reply is empty, and the
# reply on screen comes from a second turn.
SEPARATE_REPLY = {"codex"}
WRITE_PROMPT = "Create denied.txt with the agreed content."
EDIT_PROMPT = "Create notes.txt with the agreed content."

# (what, pattern, replacement): volatile parts that differ on every run. Numbers become zeros
# of the same width (so columns, e.g. of Claude's side panel, stay where they were).
Replacement = str | Callable[[re.Match[str]], str]


def _zeros(match: re.Match[str]) -> str:
    return re.sub(r"\d", "0", match.group(0))


def _clock(match: re.Match[str]) -> str:
    return re.sub(r"[AP]M", "PM", _zeros(match))


_GLYPH = "[·✢✳✶✻✽*]"  # Claude's spinner glyphs
NORMALISE: dict[str, list[tuple[str, re.Pattern[str], Replacement]]] = {
    "claude": [
        (
            "spinner glyph and verb",
            re.compile(rf"^(\s*){_GLYPH} [A-Z][\w'-]*…", re.M),
            r"\1✻ Working…",
        ),
        (
            "turn time",
            re.compile(rf"^\s*{_GLYPH} [A-Z][\w'-]* for (\d+m )?\d+s", re.M),
            lambda m: re.sub(rf"^(\s*){_GLYPH}", r"\1✻", _zeros(m)),
        ),
        ("clock time", re.compile(r"\b\d{1,2}:\d\d [AP]M\b"), _clock),
        ("elapsed seconds", re.compile(r"\((\d+m )?\d+s\b"), _zeros),
        ("token count", re.compile(r"[↓↑] [\d.]+k? tokens"), _zeros),
        ("thinking time", re.compile(r"thought for \d+s"), _zeros),
    ],
    "codex": [
        ("spinner glyph", re.compile(r"^(\s*)[◦•] Working", re.M), r"\1• Working"),
        ("elapsed seconds", re.compile(r"Working \((\d+m )?\d+s"), _zeros),
        (
            "turn time and clock",
            re.compile(r"Worked for (<1s|(\d+m )?\d+s) • \d\d:\d\d"),
            lambda m: _zeros(m).replace("<", "0"),
        ),
    ],
    "gemini": [
        (
            "spinner glyph",
            re.compile(r"^(\s*)[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏⣾⣽⣻⢿⡿⣟⣯⣷] ", re.M),
            r"\1⠋ ",
        ),
        ("elapsed seconds", re.compile(r"esc to cancel, (\d+m )?\d+s"), _zeros),
    ],
}


def normalise(cli: str, text: str, used: set[str] | None = None) -> str:
    for what, pattern, replacement in NORMALISE.get(cli, []):
        new = pattern.sub(replacement, text)
        if used is not None and new != text:
            used.add(what)
        text = new
    return text


@dataclass
class State:
    name: str
    text: str
    expect: str
    args: list[str]
    launch: str
    cols: int
    rows: int
    note: str = ""


@dataclass
class Take:
    """One launch of a CLI in a fresh world, recording one or more states."""

    name: str
    launch: str = "coder-tui"  # "coder-tui" | "no-ask-args" | "skip-approval"
    args: list[str] = field(default_factory=list)
    size: tuple[int, int] = SIZE
    idle_state: str | None = None  # the ready screen's state name, or None
    used_args: list[str] = field(default_factory=list)  # permission args the launch ended with


class Recorder:
    def __init__(self, cli: Cli, binary: Path, work: Path, log: Callable[[str], None]) -> None:
        self.cli = cli
        self.binary = binary
        self.work = work
        self.log = log
        self.profile = builtin_profile(cli)
        self.states: dict[str, State] = {}
        self.used: set[str] = set()
        self.problems: list[str] = []

    # --- worlds and sessions --------------------------------------------------------------

    def fresh_world(self) -> tuple[Path, Path, Path]:
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        home = self.work / "home"
        project = make_project(self.work / "project")
        return home, project, self.work / "agent"

    def launch(
        self, take: Take, server: FakeModelServer, proxy: RefusingProxy
    ) -> tuple[TerminalSession, Path]:
        home, project, agent_dir = self.fresh_world()
        env = base_env() | cli_home(
            self.cli, home, server.url, project, proxy_url=proxy.url, trust_project=False
        )
        env["PATH"] = os.pathsep.join([str(self.binary.parent), env["PATH"]])
        profile = self.profile
        if take.launch == "no-ask-args":
            profile = profile.model_copy(update={"ask_approval_args": []})
        skip = take.launch == "skip-approval"
        if (
            self.cli == "claude"
            and os.geteuid() == 0
            and (skip or "bypassPermissions" in take.args)
        ):
            env["IS_SANDBOX"] = "1"  # --dangerously-skip-permissions refuses root without it
        spec = prepare_launch(
            profile,
            agent=self.cli,
            cwd=project,
            agent_dir=agent_dir,
            session_id=SESSION_ID if profile.session.new else None,
            skip_approval=skip,
            extra_args=take.args,
            home=home,
        )
        env |= spec.env
        mode = profile.skip_approval_args if skip else profile.ask_approval_args
        n = len(mode)
        added = bool(mode) and any(
            spec.argv[i : i + n] == mode for i in range(len(spec.argv) - n + 1)
        )
        take.used_args = [*(mode if added else []), *take.args]
        unset = [*spec.env_unset, "CI", "GITHUB_ACTIONS"]
        unset += [n for n in os.environ if n.startswith(LEAKY_PREFIXES) and n not in env]
        cols, rows = take.size
        session = TerminalSession(
            spec.argv, cwd=spec.cwd, env=env, env_unset=unset, cols=cols, rows=rows
        )
        self.log(f"  {take.name}: {' '.join(_shown(spec.argv))}")
        if not session.start():
            raise RuntimeError(f"{self.cli} did not start: {session.error}")
        return session, project

    # --- waiting ----------------------------------------------------------------------------

    async def settle(
        self,
        session: TerminalSession,
        *,
        within: float,
        quiet: float = QUIET,
        want: Callable[[str], bool] = lambda _: True,
        answer_dialogs: bool = False,
    ) -> tuple[str, bool]:
        """Wait until the screen is non-empty, fits ``want`` and has not changed (normalised)
        for ``quiet`` seconds; return its text and whether that happened before ``within``."""
        deadline = time.monotonic() + within
        last, since = None, time.monotonic()
        answered: dict[str, float] = {}
        while True:
            text = session.screen.text()
            norm = normalise(self.cli, text)
            now = time.monotonic()
            if norm != last:
                last, since = norm, now
            if answer_dialogs and self.answer_dialog(session, text, answered):
                since = now
            elif norm.strip() and want(norm) and now - since >= quiet:
                return text, True
            if session.ended or now >= deadline:
                return text, False
            await asyncio.sleep(0.05)

    def answer_dialog(
        self, session: TerminalSession, text: str, answered: dict[str, float]
    ) -> bool:
        """Answer a start-up dialog as coder-tui does (the profile's startup_answers)."""
        for answer in self.profile.startup_answers:
            if re.search(answer.screen, text, re.M):
                if time.monotonic() - answered.get(answer.screen, 0.0) > 3.0:
                    answered[answer.screen] = time.monotonic()
                    self.log(f"    answered start-up dialog {answer.screen!r} ({answer.why})")
                    session.write(answer.keys.encode())
                return True
        return False

    def ready(self, text: str) -> bool:
        return bool(READY[self.cli].search(text)) and not APPROVAL[self.cli].search(text)

    def asking(self, text: str) -> bool:
        return bool(APPROVAL[self.cli].search(text))

    async def submit(self, session: TerminalSession, server: FakeModelServer, prompt: str) -> bool:
        """Paste ``prompt``, then Enter (again if no request came), as coder-tui delivers it;
        True once the fake server has the turn."""
        api = API[self.cli]
        before = len(server.user_texts(api))
        session.paste(prompt)
        # Wait for the paste to show before Enter (plus the profile's own paste guard).
        await self.settle(session, within=10, quiet=0.3, want=lambda t: prompt[:12] in t)
        await asyncio.sleep(self.profile.paste_enter_delay)
        for _ in range(4):
            session.write(self.profile.submit_key.encode())
            deadline = time.monotonic() + SUBMIT_RETRY
            while time.monotonic() < deadline:
                if len(server.user_texts(api)) > before:
                    return True
                await asyncio.sleep(0.05)
        return False

    def keep(self, take: Take, name: str, text: str, expect: str, ok: bool, what: str) -> None:
        note = ""
        if not ok:
            note = f"the recorder's sign of {what} never showed; recorded as 'any'"
            self.problems.append(f"{self.cli} {name}: {note}")
            self.log(f"    ! {name}: {note}")
            expect = "any"
        cols, rows = take.size
        self.states[name] = State(
            name,
            normalise(self.cli, text, self.used),
            expect,
            take.used_args,
            take.launch,
            cols,
            rows,
            note,
        )
        self.log(f"    {name} ({expect}): {_footer(text)!r}")

    # --- takes ------------------------------------------------------------------------------

    async def run_take(
        self, take: Take, body: Callable[..., Any] | None = None, script: tuple[Turn, ...] = ()
    ) -> None:
        with FakeModelServer() as server, RefusingProxy(allowed=[CODEX_TIP_HOST]) as proxy:
            server.script(API[self.cli], *script)
            session, project = self.launch(take, server, proxy)
            try:
                first, ok = await self.settle(session, within=STARTUP)
                if take.name == "main":
                    self.keep(take, "start", first, "any", ok, "a quiet screen")
                if take.idle_state:
                    text, ok = await self.settle(
                        session, within=STARTUP, want=self.ready, answer_dialogs=True
                    )
                    self.keep(take, take.idle_state, text, "idle", ok, "the prompt")
                if body is not None and not session.ended:
                    await body(session, server, project, take)
                if session.ended:
                    why = session.exit.description if session.exit else session.error
                    self.problems.append(f"{self.cli} {take.name}: the CLI ended early ({why})")
                    self.log(f"    ! the CLI ended early ({why})")
            finally:
                await session.close()
            if violations := proxy.violations():
                self.problems.append(f"{self.cli} {take.name}: tried to go out: {violations}")

    async def main_body(
        self, session: TerminalSession, server: FakeModelServer, project: Path, take: Take
    ) -> None:
        idle = normalise(self.cli, session.screen.text())
        if not await self.submit(session, server, BUSY_PROMPT):
            self.problems.append(f"{self.cli}: the busy prompt never reached the server")
            return
        text, ok = await self.settle(
            session,
            within=BUSY_HOLD - 4,
            quiet=BUSY_QUIET,
            want=lambda t: t != idle and BUSY_REPLY not in t,
        )
        self.keep(take, "busy", text, "busy", ok, "a steady busy screen")
        if self.cli in SEPARATE_REPLY:
            await self.settle(session, within=TURN, want=lambda t: "Worked for" in t)
            if not await self.submit(session, server, REPLY_PROMPT):
                self.problems.append(f"{self.cli}: the reply prompt never reached the server")
                return
        text, ok = await self.settle(
            session, within=TURN, want=lambda t: BUSY_REPLY in t and self.ready(t)
        )
        self.keep(take, "idle_after_turn", text, "idle", ok, "the reply at the prompt")
        if not await self.submit(session, server, WRITE_PROMPT):
            self.problems.append(f"{self.cli}: the write prompt never reached the server")
            return
        text, ok = await self.settle(session, within=TURN, want=self.asking)
        self.keep(take, "approval", text, "approval", ok, "the permission prompt")
        if not ok:
            return
        asked = normalise(self.cli, text)
        session.write(self.profile.approval_keys.deny.encode())
        text, ok = await self.settle(
            session, within=TURN, want=lambda t: t != asked and self.ready(t)
        )
        self.keep(take, "denied", text, "idle", ok, "the prompt after the denial")
        if (project / "denied.txt").exists():
            self.problems.append(f"{self.cli}: denied.txt was written despite the denial")

    async def wide_body(
        self, session: TerminalSession, server: FakeModelServer, project: Path, take: Take
    ) -> None:
        if not await self.submit(session, server, EDIT_PROMPT):
            self.problems.append(f"{self.cli}: the edit prompt never reached the server")
            return
        text, ok = await self.settle(session, within=TURN, want=self.asking)
        self.keep(take, "wide_approval", text, "approval", ok, "the permission prompt")
        if not ok:
            return
        session.write(self.profile.approval_keys.approve.encode())
        target = project / "notes.txt"
        text, ok = await self.settle(
            session,
            within=TURN,
            want=lambda t: target.exists() and "notes.txt is written" in t and self.ready(t),
        )
        self.keep(take, "wide_after_edit", text, "idle", ok, "the reply after the edit")

    def mode_takes(self) -> list[Take]:
        """A take per permission mode the CLI's --help lists (the ready screen of each)."""
        takes = [
            Take("cli-default", launch="no-ask-args", idle_state="idle_cli_default"),
            Take("skip", launch="skip-approval", idle_state="idle_skip_approvals"),
        ]
        helptext = cli_help(self.binary)
        if self.cli == "claude":
            for mode in choices(helptext, "--permission-mode"):
                takes.append(
                    Take(
                        f"mode-{mode}",
                        args=["--permission-mode", mode],
                        idle_state=f"idle_mode_{mode}",
                    )
                )
        elif self.cli == "codex":
            for value in choices(helptext, "--ask-for-approval"):
                takes.append(
                    Take(
                        f"ask-{value}",
                        launch="no-ask-args",
                        args=["--ask-for-approval", value],
                        idle_state=f"idle_ask_{value}",
                    )
                )
            for value in choices(helptext, "--sandbox"):
                takes.append(
                    Take(
                        f"sandbox-{value}",
                        launch="no-ask-args",
                        args=["--sandbox", value],
                        idle_state=f"idle_sandbox_{value}",
                    )
                )
        elif self.cli == "gemini":
            for mode in choices(helptext, "--approval-mode"):
                takes.append(
                    Take(
                        f"mode-{mode}",
                        args=["--approval-mode", mode],
                        idle_state=f"idle_mode_{mode}",
                    )
                )
        takes.append(Take("narrow", size=NARROW, idle_state="idle_narrow"))
        if self.cli == "claude":  # the longest footer, wrapped
            takes.append(
                Take(
                    "narrow-accept-edits",
                    launch="no-ask-args",
                    args=["--permission-mode", "acceptEdits"],
                    size=NARROW,
                    idle_state="idle_narrow_mode_acceptEdits",
                )
            )
        return takes

    async def record(self) -> None:
        busy: list[Turn] = [Reply(BUSY_REPLY, delay=BUSY_HOLD)]
        if self.cli in SEPARATE_REPLY:
            busy = [Reply("", delay=BUSY_HOLD), Reply(BUSY_REPLY)]
        write_turns: tuple[Turn, ...] = (
            *busy,
            WriteFile(str(self.work / "project" / "denied.txt"), "must not be written\n", "no"),
        )
        await self.run_take(Take("main", idle_state="idle"), self.main_body, write_turns)
        if self.cli == "claude":
            edit = WriteFile(
                str(self.work / "project" / "notes.txt"), "hello\n", "notes.txt is written"
            )
            await self.run_take(Take("wide", size=WIDE), self.wide_body, (edit,))
        for take in self.mode_takes():
            await self.run_take(take)


def builtin_profile(cli: str) -> AgentProfile:
    """The built-in profile of ``cli`` only: a user's own profiles must not shape the corpus,
    and another CLI's profile (perhaps being edited) must not stop the recording."""
    (file,) = [f for f in builtin_profile_files() if f.stem == cli]
    return load_yaml_model(file, AgentProfile)


def cli_help(binary: Path) -> str:
    env = {**base_env(), "HOME": "/nonexistent"}
    env["PATH"] = os.pathsep.join([str(binary.parent), env["PATH"]])
    done = subprocess.run(
        [str(binary), "--help"], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    return done.stdout + done.stderr


def choices(helptext: str, flag: str) -> list[str]:
    """The values ``--help`` lists for ``flag``, in whichever style the CLI uses:
    commander's ``(choices: "a", "b")``, yargs' ``[choices: "a", "b"]``, clap's
    ``[possible values: a, b]`` or clap's ``Possible values:`` list of ``- a: ...``."""
    start = helptext.find(flag)
    if start < 0:
        return []
    block = helptext[start:]
    nxt = re.search(r"\n\s*(?:-\w, )?--(?!" + re.escape(flag[2:]) + r")[\w-]", block)
    block = block[: nxt.start()] if nxt else block
    if m := re.search(r"[(\[]choices: ([^)\]]*)[)\]]", block, re.S):
        return re.findall(r'"([^"]+)"', m.group(1))
    if m := re.search(r"\[possible values: ([^\]]*)\]", block):
        return [v.strip() for v in m.group(1).split(",") if v.strip()]
    if "Possible values:" in block:
        return re.findall(r"^\s*- ([\w-]+):", block, re.M)
    return []


def _shown(argv: list[str]) -> list[str]:
    """argv for the log, with the long per-launch JSON shortened."""
    return [a if len(a) < 60 else a[:40] + "…" for a in argv]


def _footer(text: str) -> str:
    return next((line.strip() for line in reversed(text.split("\n")) if line.strip()), "")


def read_version(binary: Path) -> str:
    env = {**base_env(), "HOME": "/nonexistent"}
    env["PATH"] = os.pathsep.join([str(binary.parent), env["PATH"]])
    done = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, env=env
    )
    version = version_number(done.stdout) or version_number(done.stderr)
    if not version:
        raise RuntimeError(f"{binary} --version printed no version: {done.stdout!r}")
    return version


def write_corpus(out: Path, cli: str, version: str, recorder: Recorder) -> Path:
    folder = out / cli / version
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.txt"), folder / "manifest.json"]:
        old.unlink(missing_ok=True)
    states: dict[str, Any] = {}
    for state in recorder.states.values():
        (folder / f"{state.name}.txt").write_text(state.text + "\n", encoding="utf-8")
        entry: dict[str, Any] = {
            "expect": state.expect,
            "args": state.args,
            "launch": state.launch,
            "cols": state.cols,
            "rows": state.rows,
        }
        if state.note:
            entry["note"] = state.note
        states[state.name] = entry
    manifest = {
        "cli": cli,
        "version": version,
        "cols": SIZE[0],
        "rows": SIZE[1],
        "normalised": sorted(recorder.used),
        "states": dict(sorted(states.items())),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder


async def record_all(args: argparse.Namespace) -> int:
    wanted = [c for c in args.only.split(",") if c] if args.only else list(CLIS)
    problems: list[str] = []
    found = 0
    for cli in wanted:
        if cli not in CLIS:
            print(f"record_screens: unknown CLI {cli!r} (known: {', '.join(CLIS)})")
            return 2
        binary = args.clis / cli
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            print(f"record_screens: no {cli} in {args.clis}; skipped")
            continue
        found += 1
        version = read_version(binary)
        print(f"{cli} {version} ({binary})", flush=True)
        recorder = Recorder(cli, binary, args.work / cli, lambda m: print(m, flush=True))
        started = time.monotonic()
        await recorder.record()
        folder = write_corpus(args.out, cli, version, recorder)
        problems += recorder.problems
        print(
            f"  -> {len(recorder.states)} states in {folder} ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        shutil.rmtree(args.work / cli, ignore_errors=True)
    for problem in problems:
        print(f"problem: {problem}")
    if not found:
        print(f"record_screens: no CLI found in {args.clis}")
        return 1
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.record_screens",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clis", type=Path, required=True, help="folder holding the binaries")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpus root")
    parser.add_argument("--only", default="", help="comma-separated CLIs (default: all found)")
    parser.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="fixed scratch folder, emptied per launch (paths on screen)",
    )
    args = parser.parse_args(argv)
    args.clis = args.clis.resolve()
    return asyncio.run(record_all(args))


if __name__ == "__main__":
    sys.exit(main())
