"""kill -9 at random moments of a headless run, then resume: the issue's bar.

"20 trials of kill -9 at random moments of a headless run with fake agents: resume continues
from the right step, and the channel afterwards holds every message exactly once."

The run: the built-in ``review-fix`` template with the scripted fake agents of
``tests/template_scripts/review-fix`` (the reviewer asks for a change, the fixer rewrites
``calc.py``, the reviewer approves, the checker passes: replies review#1, fix#1, review#2,
check#1). One undisturbed run first gives the run's typical span (from the creation of its
run folder to its end). Each trial then starts ``python -m coder_tui run ... --headless`` in its
own session, sends SIGKILL to the whole process group at a uniformly random moment of that
span, counts the agent processes that outlive it (they are in their own PTY sessions and should
end on the hangup; survivors are killed by pid before the resume), runs
``python -m coder_tui resume RUN --headless`` and checks:

* exit code 0 and status ``succeeded``;
* the resume continued from the right step: the first step event after the resume is the step
  in flight at the kill (``pending`` in run.json), or else the step the run was about to start,
  and no (step, round) finished before the kill starts again;
* the channel: ``seq`` dense from 1, no key twice, no message twice (same kind, author, step,
  round and text), exactly the expected replies in the expected order, each keyed
  ``step:round:reply`` and carrying its script's token;
* ``calc.py`` holds exactly what the fixer's script writes.

The step the kill landed in is the last ``step_started`` in events.jsonl before the kill.
A kill that misses the run (before its folder exists, or after it ended) is drawn again (at
most 3 attempts per trial). Like the other benchmarks this always exits 0 and writes only under
``benchmarks/out/kill-resume/`` (wiped at the start); the last line is the PASS/FAIL summary.

    .venv/bin/python benchmarks/kill_resume_trials.py [--trials 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from _common import OUT_DIR, ROOT, banner

TEMPLATE = "review-fix"
SCRIPTS = ROOT / "tests" / "template_scripts" / TEMPLATE
ROLES = ("reviewer", "fixer", "checker")
# (step, round, author, token in the reply), in channel order.
EXPECTED = [
    ("review", 1, "reviewer", "[review-1]"),
    ("fix", 1, "fixer", "[fix-1]"),
    ("review", 2, "reviewer", "[review-2]"),
    ("check", 1, "checker", "[check-1]"),
]
# `coder-tui run` refuses role-named agents whose profiles are not among the roles' preferred
# CLIs (see test_agents_named_after_roles_are_enough); an idle fake agent named `claude` passes
# that check. The operator still gives each role the agent named after it.
PLACEHOLDER_AGENT = "claude=fake"

SAMPLE_FILES = {
    "calc.py": "def divide(a, b):\n    return a / b\n",
    "test_calc.py": "from calc import divide\n\n\ndef test_divide():\n"
    "    assert divide(6, 3) == 2\n",
}
PROFILE = """\
name: {name}
command: ["{{python}}", "-m", "coder_tui.fake_agent"]
args: ["--name", "{{agent}}", "--script", "{script}"]
hooks: fake
screen:
  busy: ['esc to interrupt']
  idle: ['\\\\? for shortcuts']
  approval: ['Do you want to create ']
  approval_edit: ['Do you want to create ']
  input_box: '^╭─{{8,}}'
  quiescence: 0.5
session:
  new: ["--session-id", "{{session_id}}"]
  resume: ["--resume", "{{session_id}}"]
approval_keys: {{approve: '1', approve_always: null, deny: "\\e"}}
paste_enter_delay: 0.05
"""


# --- one sandbox per run: project, CODER_TUI_HOME, fake-agent state -----------------------------


@dataclass
class Sandbox:
    root: Path
    delay: float | None = None  # every rule's delay, or the scripts' own

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def create(self) -> Sandbox:
        agents_dir = self.project / ".coder-tui" / "agents"
        agents_dir.mkdir(parents=True)
        self.home.mkdir()
        for name, text in SAMPLE_FILES.items():
            (self.project / name).write_text(text)
        for role in ROLES:
            script = SCRIPTS / f"{role}.yaml"
            if self.delay is not None:  # the same rules, with longer turns
                rules = yaml.safe_load(script.read_text())
                for rule in rules["rules"]:
                    rule["delay"] = self.delay
                script = self.root / f"{role}.yaml"
                script.write_text(yaml.safe_dump(rules, sort_keys=False))
            profile = f"rf-{role}"
            (agents_dir / f"{profile}.yaml").write_text(PROFILE.format(name=profile, script=script))
        return self

    def env(self) -> dict[str, str]:
        env = os.environ.copy()
        env.update(
            HOME=str(self.home),
            CODER_TUI_HOME=str(self.home / ".coder-tui"),
            FAKE_AGENT_STATE_DIR=str(self.root / "fake-agent-state"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        )
        return env

    def run_dir(self) -> Path | None:
        runs = self.home / ".coder-tui" / "state" / "runs"
        found = [d for d in runs.iterdir() if (d / "run.json").is_file()] if runs.is_dir() else []
        return found[0] if len(found) == 1 else None

    def run_command(self) -> list[str]:
        agents = ",".join([*(f"{role}=rf-{role}" for role in ROLES), PLACEHOLDER_AGENT])
        return [
            sys.executable,
            "-m",
            "coder_tui",
            "run",
            TEMPLATE,
            "--task",
            "the uncommitted changes to calc.py",
            "--agents",
            agents,
            "--policy",
            "fixer=approve-edits",
            "--headless",
        ]

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.run_command(),
            cwd=self.project,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def resume(self, run_id: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "coder_tui", "resume", run_id, "--headless"],
            cwd=self.project,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append({"corrupt": line})
    return records


def expected_calc() -> str:
    script = yaml.safe_load((SCRIPTS / "fixer.yaml").read_text())
    return str(script["rules"][0]["write"]["content"])


# --- processes ----------------------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc; PTY children are in their own sessions)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def reap_survivors(pids: set[int], wait: float = 3.0) -> int:
    """How many of ``pids`` are still alive ``wait`` s after the kill; those are killed."""
    deadline = time.monotonic() + wait
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


# --- checks -------------------------------------------------------------------------------------


def check_channel(messages: list[dict]) -> list[str]:
    problems = []
    if any("corrupt" in m for m in messages):
        problems.append("a corrupt channel line")
        messages = [m for m in messages if "corrupt" not in m]
    seqs = [m["seq"] for m in messages]
    if seqs != list(range(1, len(messages) + 1)):
        problems.append(f"seq not dense: {seqs}")
    keys = Counter(m["key"] for m in messages if m.get("key"))
    twice = sorted(k for k, n in keys.items() if n > 1)
    if twice:
        problems.append(f"keys twice: {twice}")
    same = Counter(
        (m["kind"], m["author"], m.get("step"), m.get("round"), m["text"]) for m in messages
    )
    repeated = [k[:4] for k, n in same.items() if n > 1]
    if repeated:
        problems.append(f"messages twice: {repeated}")
    replies = [m for m in messages if m["kind"] == "reply"]
    got = [(m["step"], m["round"], m["author"]) for m in replies]
    want = [(s, r, a) for s, r, a, _ in EXPECTED]
    if got != want:
        problems.append(f"replies {got}, expected {want}")
    for message, (_, _, _, token) in zip(replies, EXPECTED, strict=False):
        if message["key"] != f"{message['step']}:{message['round']}:reply":
            problems.append(f"reply key {message['key']}")
        if token not in message["text"]:
            problems.append(f"{message['step']}#{message['round']}: {message['text'][:60]!r}")
    return problems


def resume_point(state: dict) -> tuple[str, int] | None:
    """Where a resume must continue: the step in flight, else the step about to start."""
    pending = state.get("pending") or {}
    if pending.get("step"):
        return pending["step"], int(pending["round"])
    step = state.get("current_step") or "review"  # the template's first step
    return step, int(state.get("step_rounds", {}).get(step, 0)) + 1


@dataclass
class Trial:
    number: int
    attempts: int = 0
    kill_at: float = 0.0  # seconds after the start of the process
    landed: str = ""  # step#round of the last step_started before the kill
    last_event: str = ""
    resumed_from: str = ""
    survivors: int = 0
    resume_rc: int | None = None
    resume_s: float = 0.0
    event_dups: int = 0  # step events written twice (informational: events.jsonl is a log)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def one_trial(
    number: int, rng: random.Random, window: tuple[float, float], root: Path, delay: float
) -> Trial:
    trial = Trial(number)
    calc = expected_calc()
    while True:
        trial.attempts += 1
        sandbox = Sandbox(root / f"trial-{number:02d}-{trial.attempts}", delay).create()
        trial.kill_at = rng.uniform(*window)
        started = time.time()
        proc = sandbox.start()
        time.sleep(max(0.0, started + trial.kill_at - time.time()))
        below = descendants(proc.pid)
        kill_wall = time.time()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        trial.survivors = reap_survivors(below)
        run_dir = sandbox.run_dir()
        state = json.loads((run_dir / "run.json").read_text()) if run_dir else None
        missed = state is None or state["status"] not in ("running", "paused")
        if missed and trial.attempts < 3:
            continue  # the kill missed the run (not created yet, or over): draw again
        break
    if state is None or run_dir is None:
        trial.problems.append("the kill landed before the run existed (3 attempts)")
        return trial
    events = read_jsonl(run_dir / "events.jsonl")
    before = [e for e in events if e.get("at", 0) <= kill_wall]
    starts = [e for e in before if e.get("kind") == "step_started"]
    trial.landed = f"{starts[-1]['step']}#{starts[-1]['round']}" if starts else "(startup)"
    trial.last_event = before[-1]["kind"] if before else "-"
    if state["status"] not in ("running", "paused"):
        trial.landed += " (run over)"
        trial.problems += check_channel(read_jsonl(run_dir / "channel.jsonl"))
        return trial
    point = resume_point(state)
    assert point is not None
    trial.resumed_from = f"{point[0]}#{point[1]}"
    done_before = {(e["step"], e["round"]) for e in before if e.get("kind") == "step_done"}
    t0 = time.time()
    done = sandbox.resume(run_dir.name)
    trial.resume_s = time.time() - t0
    trial.resume_rc = done.returncode
    if done.returncode != 0:
        trial.problems.append(f"resume exit {done.returncode}: {done.stderr.strip()[-300:]}")
    final = json.loads((run_dir / "run.json").read_text())
    if final["status"] != "succeeded":
        trial.problems.append(f"status {final['status']}: {final.get('outcome')}")
    events = read_jsonl(run_dir / "events.jsonl")
    after = [e for e in events if e.get("at", 0) > t0 and e.get("step")]
    step_events = [e for e in after if e.get("kind") in ("step_started", "delivered", "step_done")]
    if not step_events or (step_events[0]["step"], step_events[0]["round"]) != point:
        first = step_events[0] if step_events else None
        trial.problems.append(f"resume began with {first}, expected {point}")
    again = [
        (e["step"], e["round"])
        for e in after
        if e.get("kind") == "step_started" and (e["step"], e["round"]) in done_before
    ]
    if again:
        trial.problems.append(f"steps done before the kill ran again: {again}")
    done_all = Counter(
        (e["step"], e["round"]) for e in events if e.get("kind") in ("step_started", "step_done")
    )
    trial.event_dups = sum(n - 2 for n in done_all.values() if n > 2)
    trial.problems += check_channel(read_jsonl(run_dir / "channel.jsonl"))
    text = (sandbox.project / "calc.py").read_text()
    if text != calc:
        trial.problems.append(f"calc.py: {text[:60]!r}")
    return trial


def baseline(root: Path, delay: float) -> tuple[float, float, float]:
    """One undisturbed run: (run created, run ended, process ended), s after the start."""
    sandbox = Sandbox(root / "baseline", delay).create()
    started = time.time()
    proc = sandbox.start()
    proc.wait(timeout=120)
    exited = time.time() - started
    run_dir = sandbox.run_dir()
    assert run_dir is not None, "the baseline run left no run folder"
    state = json.loads((run_dir / "run.json").read_text())
    problems = check_channel(read_jsonl(run_dir / "channel.jsonl"))
    if proc.returncode != 0 or state["status"] != "succeeded" or problems:
        raise SystemExit(f"the undisturbed run failed: rc {proc.returncode}, {state}, {problems}")
    created, ended = state["started"] - started, state["ended"] - started
    print(f"undisturbed run: exit 0, succeeded, process {exited:.2f} s")
    for event in read_jsonl(run_dir / "events.jsonl"):
        if event["kind"] in ("step_started", "step_done"):
            print(
                f"  +{event['at'] - started:5.2f} s  {event['kind']:12} {event['step']}#"
                f"{event['round']}"
            )
    print(f"kill window: {created:.2f} .. {ended:.2f} s after the start (the run's span)\n")
    return created, ended, exited


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--delay",
        type=float,
        default=0.5,
        help="each scripted turn's delay in s (the test scripts' own: 0.1), so that more kills "
        "land inside turns than in the agents' start-up",
    )
    args = parser.parse_args()
    banner("kill -9 at random moments of a headless run, then resume")
    root = OUT_DIR / "kill-resume"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(
        f"template {TEMPLATE}, scripts {SCRIPTS.relative_to(ROOT)} with every turn's delay "
        f"{args.delay} s, {args.trials} trials, seed {args.seed}"
    )
    created, ended, _ = baseline(root, args.delay)
    rng = random.Random(args.seed)
    header = (
        f"{'#':>2}  {'kill at':>7}  {'tries':>5}  {'kill landed in':<22} {'last event':<13} "
        f"{'resumed from':<12} {'orphans':>7}  {'rc':>2}  {'resume':>6}  {'ev dup':>6}  result"
    )
    print(header)
    print("-" * len(header))
    trials = []
    for number in range(1, args.trials + 1):
        trial = one_trial(number, rng, (created, ended), root, args.delay)
        trials.append(trial)
        rc = "" if trial.resume_rc is None else str(trial.resume_rc)
        print(
            f"{number:>2}  {trial.kill_at:6.2f}s  {trial.attempts:>5}  {trial.landed:<22} "
            f"{trial.last_event:<13} {trial.resumed_from or '-':<12} {trial.survivors:>7}  "
            f"{rc:>2}  {trial.resume_s:5.2f}s  {trial.event_dups:>6}  "
            + ("ok" if trial.ok else "FAIL: " + "; ".join(trial.problems)),
            flush=True,
        )
    failed = [t for t in trials if not t.ok]
    landed = Counter(t.landed.split(" ")[0] for t in trials)
    orphans = sum(t.survivors for t in trials)
    print()
    print("kills per step: " + ", ".join(f"{k}: {n}" for k, n in sorted(landed.items())))
    print(f"agent processes alive 3 s after the kill (killed by pid): {orphans}")
    print(
        f"{'PASS' if not failed else 'FAIL'}: {len(trials) - len(failed)}/{len(trials)} trials "
        "resumed from the right step to succeeded, every channel message exactly once"
        + (f" (failed: {', '.join(str(t.number) for t in failed)})" if failed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
