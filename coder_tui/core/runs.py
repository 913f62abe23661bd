"""Run folders: what a run is, where it stands, and what happened in it, all crash-safe.

A run lives in ``runs_root/<YYYYmmdd-HHMMSS>-<hex>/`` (``new_run_dir``)::

    run.json          RunState: the operator's position. Replaced atomically on every save
                      (tmp file + fsync + os.replace + fsync of the folder): never half written.
    events.jsonl      what happened, one JSON line per event, appended and fsync'd.
    channel.jsonl     the channel (``coder_tui.core.channel``).
    agents/NAME/      per agent: launch.json (session id, argv, ...), hook events.

After ``kill -9`` at any moment, ``RunStore.open`` reads the last complete run.json and the
events and channel without their torn tails; ``coder-tui resume RUN`` continues from there.

Events
------
Every event is ``{"seq": n, "at": unix time, "kind": KIND, ...data}`` with a dense 1-based
``seq``. The kinds are ``EventKind``'s:

====================  =======================================================================
run_started           ``template, inputs``: the run began
step_started          ``step, round``: a step's visit began (round = visit number)
delivered             ``step, round, agent, proof, presses``: the agent's CLI took the prompt
turn_ended            ``step, round, agent, reply_len``: the turn of that prompt finished
step_attempt_failed   ``step, round, agent, error``: a delivery or turn failed (retry next)
step_done             ``step, round, outputs, next``: the step's outputs and the step routed to
paused / resumed      the user paused the run / the run continued
waiting_while_paused  a delivery waits for the run to be resumed
gate_waiting          ``step, round``: the run waits for the user at a gate
gate_answered         ``step, approved``: the user's answer
limit_reached         ``what``: a limit (hops, rounds) stopped the run or its loop
agent_exited          ``agent, code, description``: an agent's process ended (not at stop)
run_left              ``step``: the app closed mid-run; the run is paused, resumable
run_ended             ``status, outcome``: the run finished
====================  =======================================================================

Status
------
``run.json`` holds RUNNING, PAUSED, SUCCEEDED, FAILED or CANCELLED. CRASHED is never stored:
it is what a RUNNING or PAUSED run *is* when the process in ``pid`` is gone (``kill -9``,
power loss). ``pid`` is checked with ``kill(pid, 0)``, then ``/proc/PID/stat`` (a zombie is
dead; when ``pid_start`` is recorded, a process started at another time reused the pid) and
``/proc/PID/cmdline`` (it must mention ``coder`` or ``python``).
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coder_tui.core.channel import Channel
from coder_tui.core.faults import crash_point
from coder_tui.core.storage import JsonlLog, fsync_dir, write_all

RUN_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
CHANNEL_FILE = "channel.jsonl"
AGENTS_DIR = "agents"


class RunStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CRASHED = "crashed"  # derived, never saved: RUNNING/PAUSED with no live process


ACTIVE = frozenset({RunStatus.RUNNING, RunStatus.PAUSED})


class EventKind(StrEnum):
    """Every kind the writers (operator, host) use; the table above says what each carries."""

    RUN_STARTED = "run_started"
    STEP_STARTED = "step_started"
    DELIVERED = "delivered"
    TURN_ENDED = "turn_ended"
    STEP_ATTEMPT_FAILED = "step_attempt_failed"
    STEP_DONE = "step_done"
    PAUSED = "paused"
    RESUMED = "resumed"
    WAITING_WHILE_PAUSED = "waiting_while_paused"
    GATE_WAITING = "gate_waiting"
    GATE_ANSWERED = "gate_answered"
    LIMIT_REACHED = "limit_reached"
    AGENT_EXITED = "agent_exited"
    RUN_LEFT = "run_left"
    RUN_ENDED = "run_ended"


class RunLookupError(LookupError):
    """No run (or more than one) matches; ``candidates`` are the run ids worth showing."""

    def __init__(self, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


class RunStateError(ValueError):
    """run.json exists but cannot be read as a RunState."""


# --- processes ------------------------------------------------------------------------------------


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, /proc/PID/stat field 22); None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, start: int | None = None) -> bool:
    """Whether ``pid`` is a live coder-tui (or Python) process, as far as this OS can tell."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():
        return True  # no procfs (macOS): kill(0) is all we know
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False  # exited in between
    state = stat[stat.rfind(")") + 2 :].split()[:1]
    if state in (["Z"], ["X"]):
        return False
    if start is not None and process_start(pid) != start:
        return False  # the pid was reused
    lowered = cmdline.lower()
    return b"coder" in lowered or b"python" in lowered


# --- state ----------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class AgentRecord(_Model):
    profile: str
    session_id: str | None = None
    policy: str = "ask"
    # The user asked for the CLI's skip-permission flag (--skip-approvals): resume relaunches
    # it so, or a headless run would come back asking approvals nobody can answer. Files
    # from before this field read as False, which is what they launched with unless asked.
    skip_approval: bool = False
    # The agent's folder when it is not this run's agents/NAME: a session that ran a template
    # before keeps its agents (and their hook events, which resume reads) where they started.
    home: str | None = None


class StepResult(_Model):
    """A step's latest result (one per step; an earlier round's is in the events)."""

    reply: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict)
    round: int = 1
    agent: str | None = None
    started: float | None = None
    ended: float | None = None


class InFlight(_Model):
    """A step visit that began and has not ended: a resumed run continues this visit (same
    round) instead of starting a new one, so its prompt and reply keep their keys."""

    step: str
    round: int
    started: float = Field(default_factory=time.time)


def _own_start() -> int | None:
    return process_start(os.getpid())


class RunState(_Model):
    """Where a run stands; what ``coder-tui resume`` continues from."""

    version: int = 1
    run_id: str = ""  # set by RunStore.create: the folder's name
    template: str
    title: str = ""
    inputs: dict[str, str] = Field(default_factory=dict)
    cwd: str = ""
    roles: dict[str, str] = Field(default_factory=dict)  # role -> agent name
    agents: dict[str, AgentRecord] = Field(default_factory=dict)  # agent name -> record
    status: RunStatus = RunStatus.RUNNING
    current_step: str | None = None
    step_rounds: dict[str, int] = Field(default_factory=dict)  # step -> visits
    loop_rounds: dict[str, int] = Field(default_factory=dict)
    hops: int = 0
    step_results: dict[str, StepResult] = Field(default_factory=dict)
    in_flight: InFlight | None = None  # the step visit begun and not done (resume goes on)
    started: float = Field(default_factory=time.time)
    updated: float = Field(default_factory=time.time)
    ended: float | None = None
    outcome: str | None = None
    pid: int = Field(default_factory=os.getpid)
    pid_start: int | None = Field(default_factory=_own_start)  # guards against pid reuse
    counters: dict[str, int] = Field(default_factory=dict)  # e.g. turns per agent

    @model_validator(mode="before")
    @classmethod
    def _read_pending(cls, data: Any) -> Any:
        """Run files written before ``in_flight`` kept it in ``pending`` (a dict)."""
        if isinstance(data, dict) and "in_flight" not in data:
            pending = data.get("pending")
            if isinstance(pending, dict) and "step" in pending and "round" in pending:
                data = {
                    **data,
                    "in_flight": {
                        k: pending[k] for k in ("step", "round", "started") if k in pending
                    },
                }
        return data


def released(state: RunState) -> bool:
    """Paused and let go by its process (pid 0): a session closed mid-run, resumable now."""
    return state.status is RunStatus.PAUSED and state.pid == 0


def effective_status(state: RunState) -> RunStatus:
    """The stored status, or CRASHED for an active run whose process is gone without
    releasing it."""
    if released(state):
        return RunStatus.PAUSED
    if state.status in ACTIVE and not process_alive(state.pid, state.pid_start):
        return RunStatus.CRASHED
    return state.status


def _read_state(path: Path) -> RunState:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RunLookupError(f"no run at {path.parent} (no {RUN_FILE})") from None
    try:
        return RunState.model_validate_json(data)
    except ValidationError as exc:
        raise RunStateError(f"{path} is not a readable run state: {exc}") from exc


# --- the store ------------------------------------------------------------------------------------


def new_run_dir(runs_root: Path) -> Path:
    """A fresh run folder: sortable by time, unique even when started in the same second."""
    run_dir = runs_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    run_dir.mkdir(parents=True)
    return run_dir


class RunStore:
    """One run folder: its state (``state`` + ``save``), events, channel and agent folders."""

    def __init__(self, run_dir: Path, *, state: RunState | None = None) -> None:
        """Open the run in ``run_dir`` (reads run.json), or adopt ``state`` without reading."""
        self.run_dir = Path(run_dir)
        self.state = state if state is not None else _read_state(self.run_dir / RUN_FILE)
        self._events = JsonlLog(self.run_dir / EVENTS_FILE)
        self._event_seq = 0  # the last seq written; read from the file before the first
        self._save_lock = threading.Lock()
        self._channel: Channel | None = None

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @classmethod
    def create(cls, runs_root: Path, state: RunState) -> RunStore:
        """A new run folder (``new_run_dir``) holding ``state``, saved."""
        run_dir = new_run_dir(Path(runs_root))
        fsync_dir(run_dir.parent)
        state.run_id = run_dir.name
        store = cls(run_dir, state=state)
        store.save()
        return store

    @classmethod
    def open(cls, run_dir_or_id: str | Path, runs_root: Path | None = None) -> RunStore:
        """A run by its folder, its id, or a prefix of its id unique in ``runs_root``
        (``paths.runs_dir()`` by default). Raises RunLookupError listing candidates."""
        path = Path(run_dir_or_id)
        if (path / RUN_FILE).is_file():
            return cls(path)
        text = str(run_dir_or_id)
        if isinstance(run_dir_or_id, Path) or os.sep in text or not text:
            raise RunLookupError(f"no run at {path} (no {RUN_FILE})")
        if runs_root is None:
            from coder_tui.paths import runs_dir

            runs_root = runs_dir()
        ids = _run_ids(Path(runs_root))
        if text in ids:
            return cls(Path(runs_root) / text)
        matches = [run_id for run_id in ids if run_id.startswith(text)]
        if len(matches) == 1:
            return cls(Path(runs_root) / matches[0])
        if matches:
            shown = sorted(matches, reverse=True)
            raise RunLookupError(
                f"{text!r} matches {len(matches)} runs: {', '.join(shown[:10])}"
                + (" ..." if len(shown) > 10 else "")
                + "; give more of the id",
                shown,
            )
        recent = sorted(ids, reverse=True)[:10]
        hint = f"; recent runs: {', '.join(recent)}" if recent else " (there are no runs yet)"
        raise RunLookupError(f"no run {text!r} in {runs_root}{hint}", recent)

    # --- state ------------------------------------------------------------------------------------

    def save(self) -> None:
        """Write run.json atomically and durably (``updated`` is set to now)."""
        with self._save_lock:
            self.state.updated = time.time()
            data = (self.state.model_dump_json(indent=2) + "\n").encode("utf-8")
            target = self.run_dir / RUN_FILE
            tmp = self.run_dir / f".{RUN_FILE}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            crash_point("save")
            os.replace(tmp, target)
            fsync_dir(self.run_dir)

    def reload(self) -> RunState:
        """Read run.json again (replacing ``state``)."""
        self.state = _read_state(self.run_dir / RUN_FILE)
        return self.state

    @property
    def status(self) -> RunStatus:
        """The status with CRASHED derived (see ``effective_status``)."""
        return effective_status(self.state)

    def claim(self) -> None:
        """Make this process the run's owner (on resume), so it no longer reads as CRASHED."""
        self.state.pid = os.getpid()
        self.state.pid_start = _own_start()
        self.save()

    # --- events -----------------------------------------------------------------------------------

    def event(self, kind: EventKind, **data: Any) -> dict[str, Any]:
        """Append ``{seq, at, kind, **data}`` to events.jsonl (fsync'd) and return it."""
        reserved = {"seq", "at", "kind"} & data.keys()
        if reserved:
            raise ValueError(f"event data may not use the keys {sorted(reserved)}")

        def build(on_disk: list[dict[str, Any]] | None) -> dict[str, Any]:
            if on_disk is not None:  # first append, or the file changed: renumber from it
                self._event_seq = max((_int(e.get("seq")) for e in on_disk), default=0)
            self._event_seq += 1
            return {"seq": self._event_seq, "at": time.time(), "kind": str(kind), **data}

        return self._events.append_built(build)  # build runs under the log's lock

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The events on disk, oldest first (a torn last line is ignored), of ``kind`` if given."""
        records = self._events.read()
        return records if kind is None else [e for e in records if e.get("kind") == kind]

    # --- channel and agents -----------------------------------------------------------------------

    @property
    def channel(self) -> Channel:
        if self._channel is None:
            self._channel = Channel(self.run_dir / CHANNEL_FILE)
        return self._channel

    def agent_dir(self, name: str) -> Path:
        """The agent's folder, always one level inside agents/: the last line of defence
        behind the agent name rule (core/agents/names.py), for a name from any source (a
        hand-edited run.json too). Names from before that rule still have their folder."""
        separators = {"/", "\\", "\0", os.sep, os.altsep or "/"}
        if not name or name in (".", "..") or any(s in name for s in separators):
            raise ValueError(f"not an agent name: {name!r}")
        return self.run_dir / AGENTS_DIR / name


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _run_ids(runs_root: Path) -> list[str]:
    try:
        entries = list(runs_root.iterdir())
    except FileNotFoundError:
        return []
    return [entry.name for entry in entries if (entry / RUN_FILE).is_file()]


# --- listing and stats ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    id: str
    run_dir: Path
    template: str
    title: str
    status: RunStatus  # CRASHED derived
    started: float
    duration: float  # seconds: to ``ended``; for a live run to now; else to the last save
    steps_done: int  # steps with a result (distinct steps)
    rounds: int  # the most visits of any one step (a review loop's round count)
    outcome: str | None
    cwd: str


def _summary(run_dir: Path, state: RunState, now: float) -> RunSummary:
    status = effective_status(state)
    if state.ended is not None:
        end = state.ended
    elif status in ACTIVE:
        end = now
    else:
        end = state.updated
    return RunSummary(
        id=run_dir.name,
        run_dir=run_dir,
        template=state.template,
        title=state.title,
        status=status,
        started=state.started,
        duration=max(0.0, end - state.started),
        steps_done=len(state.step_results),
        rounds=max(state.step_rounds.values(), default=0),
        outcome=state.outcome,
        cwd=state.cwd,
    )


def _load_runs(runs_root: Path) -> list[tuple[Path, RunState]]:
    runs: list[tuple[Path, RunState]] = []
    for run_id in _run_ids(Path(runs_root)):
        run_dir = Path(runs_root) / run_id
        with contextlib.suppress(RunLookupError, RunStateError):
            runs.append((run_dir, _read_state(run_dir / RUN_FILE)))
    runs.sort(key=lambda item: (item[1].started, item[0].name), reverse=True)
    return runs


def list_runs(runs_root: Path) -> list[RunSummary]:
    """Every readable run in ``runs_root``, newest first. Folders without a readable run.json
    (a crash between creating the folder and the first save) are left out."""
    now = time.time()
    return [_summary(run_dir, state, now) for run_dir, state in _load_runs(runs_root)]


def _given(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _is_approve(value: Any) -> bool:
    return str(value).strip().upper() in {"APPROVE", "APPROVED"}


def _test_result(value: Any) -> bool | None:
    word = str(value).strip().upper()
    return True if word == "PASS" else False if word == "FAIL" else None


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _step_outputs(
    events: list[dict[str, Any]],
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for event in events:
        outputs = event.get("outputs")
        if event.get("kind") == EventKind.STEP_DONE and isinstance(outputs, dict):
            yield event, outputs


def _first_verdict(state: RunState, events: list[dict[str, Any]]) -> tuple[int, Any] | None:
    """(round, verdict) of the run's first review, or None when no step gave a verdict."""
    for event, outputs in _step_outputs(events):
        if _given(outputs.get("verdict")):
            return int(event.get("round") or 1), outputs["verdict"]
    with_verdict = [r for r in state.step_results.values() if _given(r.outputs.get("verdict"))]
    if not with_verdict:
        return None
    first = min(with_verdict, key=lambda r: r.started if r.started is not None else math.inf)
    return first.round, first.outputs["verdict"]


def _test_results(state: RunState, events: list[dict[str, Any]]) -> list[bool]:
    """PASS/FAIL of every check in order (step_done events; else the latest step results)."""
    results: list[bool] = []
    for _, outputs in _step_outputs(events):
        if (result := _test_result(outputs.get("tests"))) is not None:
            results.append(result)
    if results:
        return results
    ordered = sorted(
        state.step_results.values(),
        key=lambda r: r.ended if r.ended is not None else math.inf,
    )
    return [
        result
        for r in ordered
        if "tests" in r.outputs and (result := _test_result(r.outputs["tests"])) is not None
    ]


def _distribution(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None}
    return {"mean": statistics.fmean(values), "median": statistics.median(values)}


def run_stats(runs_root: Path) -> dict[str, Any]:
    """Aggregates over every readable run in ``runs_root`` (``coder-tui runs --stats``).

    - ``runs``: how many; ``by_status``: count per status, CRASHED derived.
    - ``templates``: per template, ``runs``, ``finished`` (runs with ``ended`` set) and the
      ``mean_duration`` / ``median_duration`` in seconds of those finished runs (None if none).
    - ``turns``: model turns = ``turn_ended`` events. ``total``, ``per_run`` ({id: n}),
      ``mean`` / ``median`` per run (over all runs, zeros included), ``by_agent`` totals.
    - ``first_round_approval``: runs whose first review was approved at once. A run is
      *eligible* when some step gave a (non-empty) output ``verdict``; its *first review* is
      the first ``step_done`` event (by seq) with a verdict (without such events: the step
      result with a verdict that started first). It is *approved* when that verdict is APPROVE
      (or APPROVED, any case) and its round is 1. ``rate`` = approved / eligible.
    - ``tests``: for steps with an output ``tests`` of PASS or FAIL (any case). Per check:
      ``checks``, ``checks_passed``, ``check_rate``, from ``step_done`` events (without
      them: the latest step results). Per run: ``runs`` with any check, ``runs_passed`` whose
      last check passed, ``rate`` = runs_passed / runs.
    Rates are None when nothing is eligible.
    """
    runs = _load_runs(Path(runs_root))
    now = time.time()
    by_status: dict[str, int] = {}
    durations: dict[str, list[float]] = {}
    template_runs: dict[str, int] = {}
    turns_per_run: dict[str, int] = {}
    turns_by_agent: dict[str, int] = {}
    eligible = approved = 0
    checks = checks_passed = test_runs = test_runs_passed = 0
    for run_dir, state in runs:
        summary = _summary(run_dir, state, now)
        by_status[str(summary.status)] = by_status.get(str(summary.status), 0) + 1
        template_runs[state.template] = template_runs.get(state.template, 0) + 1
        durations.setdefault(state.template, [])
        if state.ended is not None:
            durations[state.template].append(summary.duration)
        events = JsonlLog(run_dir / EVENTS_FILE).read()
        turns = [e for e in events if e.get("kind") == EventKind.TURN_ENDED]
        turns_per_run[summary.id] = len(turns)
        for turn in turns:
            agent = str(turn.get("agent", "?"))
            turns_by_agent[agent] = turns_by_agent.get(agent, 0) + 1
        verdict = _first_verdict(state, events)
        if verdict is not None:
            eligible += 1
            approved += int(verdict[0] == 1 and _is_approve(verdict[1]))
        results = _test_results(state, events)
        checks += len(results)
        checks_passed += sum(results)
        if results:
            test_runs += 1
            test_runs_passed += int(results[-1])
    turn_counts = [float(n) for n in turns_per_run.values()]
    return {
        "runs": len(runs),
        "by_status": by_status,
        "templates": {
            template: {
                "runs": template_runs[template],
                "finished": len(values),
                "mean_duration": _distribution(values)["mean"],
                "median_duration": _distribution(values)["median"],
            }
            for template, values in sorted(durations.items())
        },
        "turns": {
            "total": sum(turns_per_run.values()),
            "per_run": turns_per_run,
            **_distribution(turn_counts),
            "by_agent": turns_by_agent,
        },
        "first_round_approval": {
            "eligible": eligible,
            "approved": approved,
            "rate": _rate(approved, eligible),
        },
        "tests": {
            "checks": checks,
            "checks_passed": checks_passed,
            "check_rate": _rate(checks_passed, checks),
            "runs": test_runs,
            "runs_passed": test_runs_passed,
            "rate": _rate(test_runs_passed, test_runs),
        },
    }
