"""Run folders: atomic state, events, lookup by id, CRASHED detection, stats.

Real files and real processes: dead, zombie and foreign pids come from actual children, and
the crash test kills a child with SIGKILL while it saves and appends events in a loop.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from coder_tui.core.channel import MessageKind
from coder_tui.core.runs import (
    AgentRecord,
    InFlight,
    RunLookupError,
    RunState,
    RunStatus,
    RunStore,
    StepResult,
    list_runs,
    process_alive,
    process_start,
    run_stats,
)
from tests.killing import grew, kill_while_running

ROOT = Path(__file__).resolve().parents[2]


def new_state(**fields: Any) -> RunState:
    base: dict[str, Any] = {"template": "review", "title": "Review", "cwd": "/tmp"}
    base.update(fields)
    return RunState(**base)


def make_run(
    root: Path, run_id: str, events: Sequence[tuple[str, dict[str, Any]]] = (), **fields: Any
) -> RunStore:
    """A hand-made run folder named ``run_id``."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    store = RunStore(run_dir, state=new_state(run_id=run_id, **fields))
    store.save()
    for kind, data in events:
        store.event(kind, **data)
    return store


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is neither Python nor coder-tui."""
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait()


# --- the store ------------------------------------------------------------------------------------


def test_create_save_and_open(tmp_path: Path) -> None:
    state = new_state(
        inputs={"task": "fix the bug"},
        roles={"reviewer": "claude", "fixer": "codex"},
        agents={"claude": AgentRecord(profile="claude", session_id="abc", policy="ask")},
    )
    store = RunStore.create(tmp_path / "runs", state)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", store.run_id)
    assert store.state.run_id == store.run_id
    assert store.run_dir.parent == tmp_path / "runs"
    assert store.status is RunStatus.RUNNING
    on_disk = json.loads((store.run_dir / "run.json").read_text())
    assert on_disk["run_id"] == store.run_id and on_disk["pid"] == os.getpid()

    store.state.current_step = "review"
    store.state.step_rounds["review"] = 1
    store.state.step_results["review"] = StepResult(
        reply="LGTM", outputs={"verdict": "APPROVE"}, round=1, agent="claude", started=1.0
    )
    store.state.in_flight = InFlight(step="fix", round=1)
    before = store.state.updated
    store.save()
    assert store.state.updated >= before
    assert [p.name for p in store.run_dir.iterdir()] == ["run.json"]  # no tmp file left

    reopened = RunStore.open(store.run_dir)
    assert reopened.state == store.state
    assert reopened.state.status is RunStatus.RUNNING
    assert reopened.state.agents["claude"].session_id == "abc"
    store.state.hops = 7
    store.save()
    assert reopened.reload().hops == 7


def test_events(tmp_path: Path) -> None:
    store = make_run(tmp_path, "r1")
    assert store.events() == []
    first = store.event("run_started", template="review")
    second = store.event("step_started", step="review", round=1, agent="claude")
    assert (first["seq"], second["seq"]) == (1, 2)
    assert second["kind"] == "step_started" and second["agent"] == "claude"
    assert store.events() == [first, second]
    assert store.events("step_started") == [second]
    with pytest.raises(ValueError, match="seq"):
        store.event("x", seq=5)
    # Another store on the same run continues the numbering, and this one notices.
    assert RunStore(store.run_dir).event("paused")["seq"] == 3
    assert store.event("resumed")["seq"] == 4
    assert [e["seq"] for e in RunStore(store.run_dir).events()] == [1, 2, 3, 4]


def test_events_from_threads_are_dense(tmp_path: Path) -> None:
    store = make_run(tmp_path, "r1")

    def worker() -> None:
        for _ in range(30):
            store.event("tick")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (store.run_dir / "events.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, 121))


def test_events_torn_line(tmp_path: Path) -> None:
    store = make_run(tmp_path, "r1")
    store.event("run_started")
    store.event("step_started", step="a", round=1, agent="x")
    path = store.run_dir / "events.jsonl"
    torn = path.read_bytes() + b'{"seq": 3, "at": 1.0, "kind": "turn_en'
    path.write_bytes(torn)
    reopened = RunStore(store.run_dir)
    assert [e["seq"] for e in reopened.events()] == [1, 2]
    assert path.read_bytes() == torn  # reading never modifies
    assert reopened.event("turn_ended", step="a")["seq"] == 3
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[-1]["kind"] == "turn_ended"


def test_channel_and_agent_dir(tmp_path: Path) -> None:
    store = make_run(tmp_path, "r1")
    store.channel.post("user", "hi", kind=MessageKind.USER)
    assert store.channel is store.channel
    assert (store.run_dir / "channel.jsonl").is_file()
    assert RunStore(store.run_dir).channel.messages[0].text == "hi"
    assert store.agent_dir("claude") == store.run_dir / "agents" / "claude"
    for bad in ("", "..", "a/b"):
        with pytest.raises(ValueError):
            store.agent_dir(bad)


def test_open_by_id_prefix_and_path(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_run(root, "20240101-100000-aaaa")
    make_run(root, "20240101-100000-aabb")
    make_run(root, "20240102-090000-cccc")
    (root / "20240103-000000-dddd").mkdir()  # no run.json: not a run

    assert RunStore.open("20240102-090000-cccc", root).run_id == "20240102-090000-cccc"
    assert RunStore.open("20240102", root).run_id == "20240102-090000-cccc"
    assert RunStore.open("20240101-100000-aab", root).run_id == "20240101-100000-aabb"
    assert RunStore.open(root / "20240101-100000-aaaa").run_id == "20240101-100000-aaaa"
    assert RunStore.open(str(root / "20240101-100000-aaaa")).run_id == "20240101-100000-aaaa"

    with pytest.raises(RunLookupError) as ambiguous:
        RunStore.open("20240101-100000-aa", root)
    assert ambiguous.value.candidates == ["20240101-100000-aabb", "20240101-100000-aaaa"]
    assert "20240101-100000-aabb" in str(ambiguous.value)

    with pytest.raises(RunLookupError) as missing:
        RunStore.open("2025", root)
    assert "20240102-090000-cccc" in str(missing.value)  # lists recent runs
    with pytest.raises(RunLookupError):
        RunStore.open("20240103", root)
    with pytest.raises(RunLookupError):
        RunStore.open(tmp_path / "nowhere")
    with pytest.raises(RunLookupError, match="no runs yet"):
        RunStore.open("2024", tmp_path / "empty")


def test_open_defaults_to_the_runs_dir() -> None:
    from coder_tui.paths import runs_dir

    store = RunStore.create(runs_dir(), new_state())
    assert RunStore.open(store.run_id[:-1]).run_dir == store.run_dir


# --- status ---------------------------------------------------------------------------------------


def test_crashed_detection(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    alive = make_run(tmp_path, "alive")  # pid: this (Python) process
    assert alive.status is RunStatus.RUNNING
    dead = make_run(tmp_path, "dead", pid=dead_pid(), pid_start=None)
    assert dead.status is RunStatus.CRASHED
    assert dead.state.status is RunStatus.RUNNING  # stored status untouched
    paused = make_run(tmp_path, "paused", status=RunStatus.PAUSED, pid=dead_pid())
    assert paused.status is RunStatus.CRASHED
    ended = make_run(tmp_path, "ended", status=RunStatus.SUCCEEDED, pid=dead_pid())
    assert ended.status is RunStatus.SUCCEEDED
    foreign = make_run(tmp_path, "foreign", pid=sleeper.pid, pid_start=None)
    assert foreign.status is RunStatus.CRASHED  # alive, but not coder-tui
    reused = make_run(tmp_path, "reused", pid=os.getpid(), pid_start=1)
    assert reused.status is RunStatus.CRASHED  # our pid, but started at another time

    dead.claim()  # a resumed run belongs to the process that resumed it
    assert RunStore(dead.run_dir).status is RunStatus.RUNNING
    assert RunStore(dead.run_dir).state.pid == os.getpid()

    statuses = {run.id: run.status for run in list_runs(tmp_path)}
    assert statuses == {
        "alive": RunStatus.RUNNING,
        "dead": RunStatus.RUNNING,
        "paused": RunStatus.CRASHED,
        "ended": RunStatus.SUCCEEDED,
        "foreign": RunStatus.CRASHED,
        "reused": RunStatus.CRASHED,
    }


def test_process_alive_on_real_processes(sleeper: subprocess.Popen[bytes]) -> None:
    assert process_alive(os.getpid())
    assert process_alive(os.getpid(), process_start(os.getpid()))
    assert not process_alive(os.getpid(), -1)
    assert not process_alive(dead_pid())
    assert not process_alive(0) and not process_alive(-5)
    assert not process_alive(sleeper.pid)  # `sleep` is not coder-tui
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # Seen alive once the child's start-up settles (/proc can lag the exec by an instant).
        deadline = time.monotonic() + 5
        while not process_alive(zombie.pid):
            assert time.monotonic() < deadline, "a live python child was never seen alive"
            time.sleep(0.01)
        zombie.kill()
        deadline = time.monotonic() + 5
        while Path(f"/proc/{zombie.pid}/stat").read_text().split(") ")[1][0] != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert not process_alive(zombie.pid)  # killed, not yet reaped
    finally:
        zombie.kill()
        zombie.wait()


# --- listing and stats ----------------------------------------------------------------------------


def test_list_runs(tmp_path: Path) -> None:
    make_run(tmp_path, "b", started=2000.0, ended=2090.0, status=RunStatus.FAILED, outcome="x")
    make_run(
        tmp_path,
        "a",
        started=3000.0,
        ended=3030.5,
        status=RunStatus.SUCCEEDED,
        step_rounds={"review": 3, "fix": 2},
        step_results={"review": StepResult(round=3), "fix": StepResult(round=2)},
        outcome="approved",
    )
    make_run(tmp_path, "c", started=1000.0, pid=dead_pid())
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{}")
    runs = list_runs(tmp_path)
    assert [r.id for r in runs] == ["a", "b", "c"]
    a, b, c = runs
    assert (a.template, a.title, a.status, a.outcome) == (
        "review",
        "Review",
        RunStatus.SUCCEEDED,
        "approved",
    )
    assert (a.duration, a.steps_done, a.rounds) == (30.5, 2, 3)
    assert (b.status, b.duration, b.steps_done, b.rounds) == (RunStatus.FAILED, 90.0, 0, 0)
    assert c.status is RunStatus.CRASHED
    # A crashed run lasted until its last save.
    assert c.duration == pytest.approx(RunStore(c.run_dir).state.updated - 1000.0)
    assert list_runs(tmp_path / "missing") == []


def step_done(step: str, round_: int, **outputs: Any) -> tuple[str, dict[str, Any]]:
    return "step_done", {"step": step, "round": round_, "outputs": outputs, "next": None}


def turn(agent: str) -> tuple[str, dict[str, Any]]:
    return "turn_ended", {"step": "s", "round": 1, "agent": agent, "reply_len": 3, "source": "hook"}


def test_run_stats(tmp_path: Path) -> None:
    ok, failed, ended = RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED
    # r1: approved on round 1; tests PASS.
    make_run(
        tmp_path,
        "r1",
        status=ok,
        started=1000.0,
        ended=1100.0,
        events=[
            ("step_started", {"step": "review", "round": 1, "agent": "a"}),
            turn("a"),
            turn("b"),
            step_done("review", 1, verdict="APPROVE"),
            step_done("test", 1, tests="PASS"),
        ],
    )
    # r2: changes requested on round 1, approved on round 2; tests FAIL then pass.
    make_run(
        tmp_path,
        "r2",
        status=failed,
        started=2000.0,
        ended=2300.0,
        events=[
            turn("a"),
            step_done("review", 1, verdict="REQUEST_CHANGES"),
            turn("a"),
            step_done("fix", 1),
            turn("b"),
            step_done("review", 2, verdict="approve"),
            step_done("test", 1, tests="FAIL"),
            step_done("test", 2, tests="pass"),
        ],
    )
    # r3: crashed, no events: falls back to step results (approved, but on round 2; FAIL).
    make_run(
        tmp_path,
        "r3",
        started=3000.0,
        pid=dead_pid(),
        step_results={
            "review": StepResult(outputs={"verdict": "APPROVE"}, round=2, started=3010.0),
            "test": StepResult(outputs={"tests": "FAIL"}, round=1, ended=3020.0),
        },
    )
    # r4: another template, no verdict given, one turn.
    make_run(
        tmp_path,
        "r4",
        template="chat",
        status=ended,
        started=4000.0,
        ended=4050.0,
        events=[turn("c"), step_done("talk", 1, verdict=None)],
    )
    # r5: "Approved" on round 1, no turns recorded.
    make_run(
        tmp_path,
        "r5",
        status=ok,
        started=5000.0,
        ended=5200.0,
        events=[step_done("review", 1, verdict=" Approved ")],
    )

    stats = run_stats(tmp_path)
    assert stats["runs"] == 5
    assert stats["by_status"] == {"succeeded": 2, "failed": 1, "crashed": 1, "cancelled": 1}
    assert stats["templates"] == {
        "chat": {"runs": 1, "finished": 1, "mean_duration": 50.0, "median_duration": 50.0},
        "review": {"runs": 4, "finished": 3, "mean_duration": 200.0, "median_duration": 200.0},
    }
    assert stats["turns"] == {
        "total": 6,
        "per_run": {"r1": 2, "r2": 3, "r3": 0, "r4": 1, "r5": 0},
        "mean": 1.2,
        "median": 1.0,
        "by_agent": {"a": 3, "b": 2, "c": 1},
    }
    assert stats["first_round_approval"] == {"eligible": 4, "approved": 2, "rate": 0.5}
    assert stats["tests"] == {
        "checks": 4,
        "checks_passed": 2,
        "check_rate": 0.5,
        "runs": 3,
        "runs_passed": 2,
        "rate": pytest.approx(2 / 3),
    }
    json.dumps(stats)  # printable as is


def test_run_stats_of_nothing(tmp_path: Path) -> None:
    stats = run_stats(tmp_path)
    assert stats["runs"] == 0 and stats["templates"] == {}
    assert stats["turns"]["mean"] is None
    assert stats["first_round_approval"]["rate"] is None and stats["tests"]["rate"] is None


# --- kill -9 -------------------------------------------------------------------------------------


SAVER = """
import sys
from pathlib import Path
from coder_tui.core.runs import RunStore

store = RunStore(Path(sys.argv[1]))
store.claim()
i = len(store.events())  # continue after the last recorded event, exactly once
while True:
    store.state.counters["i"] = i
    store.state.outcome = "y" * (i * 53 % 997)  # run.json changes size
    store.save()
    store.event("tick", i=i, pad="z" * (i * 31 % 257))
    i += 1
"""


def test_kill_9_while_saving_and_appending(tmp_path: Path) -> None:
    rng = random.Random(7)
    store = RunStore.create(tmp_path / "runs", new_state())
    events_file = store.run_dir / "events.jsonl"
    total = 0
    for _ in range(4):
        before = total
        size = events_file.stat().st_size if events_file.exists() else 0
        kill_while_running(
            [sys.executable, "-c", SAVER, str(store.run_dir)],
            grew(events_file, size),
            rng.uniform(0.0, 0.2),
        )
        state = json.loads((store.run_dir / "run.json").read_text())  # always whole
        reopened = RunStore.open(store.run_dir)
        assert reopened.status is RunStatus.CRASHED
        events = reopened.events()
        total = len(events)
        assert total > before
        assert [e["seq"] for e in events] == list(range(1, total + 1))
        assert [e["i"] for e in events] == list(range(total))
        # save comes before event: the state is at the last event or one past it.
        assert state["counters"]["i"] in (total - 1, total)
        assert reopened.state.counters["i"] == state["counters"]["i"]

    # Resume here: the numbering continues, the torn tail (if any) is gone.
    resumed = RunStore.open(store.run_dir)
    resumed.claim()
    assert resumed.event("tick", i=total)["seq"] == total + 1
    resumed.save()
    lines = events_file.read_bytes().splitlines()
    assert [json.loads(line)["i"] for line in lines] == list(range(total + 1))
    assert resumed.status is RunStatus.RUNNING


def test_a_run_file_from_before_in_flight_resumes_its_step_visit(tmp_path: Path) -> None:
    """run.json files written before ``in_flight`` kept the visit in ``pending``: read it, so
    a crashed run of that version still resumes the same round (its keys, exactly once)."""
    state = RunState(template="review-fix")
    legacy = state.model_dump(mode="json", exclude={"in_flight"})
    legacy["pending"] = {"step": "fix", "round": 2, "started": 5.0, "delivered": True}
    legacy["step_attempt"] = 0
    (tmp_path / "run.json").write_text(json.dumps(legacy))
    read = RunStore(tmp_path).state
    assert read.in_flight == InFlight(step="fix", round=2, started=5.0)


def test_agent_records_keep_skipped_approvals_and_old_files_read_as_not_skipped(
    tmp_path: Path,
) -> None:
    """``skip_approval`` is what resume relaunches with; run.json files from before it have
    no such key, and their agents were launched without the skip unless asked: False."""
    state = RunState(template="", agents={"fix": AgentRecord(profile="fake", skip_approval=True)})
    RunStore(tmp_path, state=state).save()
    assert RunStore(tmp_path).state.agents["fix"].skip_approval is True
    legacy = state.model_dump(mode="json")
    del legacy["agents"]["fix"]["skip_approval"]
    (tmp_path / "run.json").write_text(json.dumps(legacy))
    assert RunStore(tmp_path).state.agents["fix"] == AgentRecord(profile="fake")
