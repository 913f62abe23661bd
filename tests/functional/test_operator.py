"""The operator running templates over scripted fake agents, headless, through the real CLI:
routing, loops, outputs, pause, and crash-safe resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_coder_tui, wait_for

TEMPLATE = """\
name: mini-review
title: Mini review
category: review
description: Review, fix until approved.
inputs:
  - name: task
    description: what to review
roles:
  reviewer: {prefer: [rev]}
  fixer: {prefer: [fix]}
steps:
  - id: review
    role: reviewer
    prompt: |
      Review this: {{ inputs.task }}
      {% if steps.fix %}
      The fixer said: {{ steps.fix.reply }}
      {% endif %}
      End with VERDICT: APPROVE or VERDICT: CHANGES_REQUESTED
    outputs:
      verdict: {marker: "VERDICT:"}
    next:
      - when: "outputs.verdict == 'APPROVE'"
        goto: end
      - goto: fix
  - id: fix
    role: fixer
    prompt: "Fix this review:\\n{{ steps.review.reply }}"
    next: [{goto: review}]
loops:
  - name: review-loop
    steps: [review, fix]
    max_rounds: 3
"""

REVIEWER = """\
rules:
  - times: 1
    delay: {delay}
    reply: "Found a bug in calc.py.\\nVERDICT: CHANGES_REQUESTED"
  - delay: {delay}
    reply: "All good now.\\nVERDICT: APPROVE"
"""
FIXER = """\
rules:
  - delay: {delay}
    write: {{path: calc.py, content: "fixed = True\\n"}}
    reply: "Fixed calc.py."
"""


def project(
    tmp_path: Path, delay: float = 0.3, hooks: str = "fake", reviewer: str = REVIEWER
) -> Path:
    """A sample project with the template and two scripted fake-agent profiles in its
    .coder-tui folder, as a user would set it up."""
    work = tmp_path / "project"
    (work / ".coder-tui" / "templates").mkdir(parents=True)
    (work / ".coder-tui" / "agents").mkdir(parents=True)
    (work / "calc.py").write_text("fixed = False\n")
    (work / ".coder-tui" / "templates" / "mini-review.yaml").write_text(TEMPLATE)
    for name, script in (("rev", reviewer), ("fix", FIXER)):
        script_file = tmp_path / f"{name}.yaml"
        script_file.write_text(script.format(delay=delay))
        (work / ".coder-tui" / "agents" / f"{name}.yaml").write_text(
            f"name: {name}\n"
            'command: ["{python}", "-m", "coder_tui.fake_agent"]\n'
            f'args: ["--name", "{{agent}}", "--script", "{script_file}"]\n'
            f"hooks: {hooks}\n"
            "screen:\n"
            "  busy: ['esc to interrupt']\n"
            "  idle: ['\\\\? for shortcuts']\n"
            "  approval: ['Do you want to create ']\n"
            "  approval_edit: ['Do you want to create ']\n"
            "  input_box: '^╭─{8,}'\n"
            "  quiescence: 0.5\n"
            "session:\n"
            '  new: ["--session-id", "{session_id}"]\n'
            '  resume: ["--resume", "{session_id}"]\n'
            "approval_keys: {approve: '1', approve_always: null, deny: \"\\e\"}\n"
            "paste_enter_delay: 0.05\n"
        )
    return work


RUN_ARGS = [
    "run",
    "mini-review",
    "--task",
    "calc.py",
    "--agents",
    "reviewer=rev,fixer=fix",
    "--policy",
    "fixer=approve-edits",
    "--headless",
]


def runs_root() -> Path:
    return Path(os.environ["CODER_TUI_HOME"]) / "state" / "runs"


def channel_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "channel.jsonl").read_text().splitlines()]


def test_review_fix_loop_runs_to_approval_headless(tmp_path: Path) -> None:
    work = project(tmp_path)
    done = run_coder_tui(*RUN_ARGS, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = runs_root().iterdir()
    state = json.loads((run_dir / "run.json").read_text())
    assert state["status"] == "succeeded"
    assert state["step_rounds"] == {"review": 2, "fix": 1}
    assert state["step_results"]["review"]["outputs"]["verdict"] == "APPROVE"
    assert (work / "calc.py").read_text() == "fixed = True\n"
    replies = [
        (m["author"], m["step"], m["text"]) for m in channel_of(run_dir) if m["kind"] == "reply"
    ]
    assert replies == [
        ("reviewer", "review", "Found a bug in calc.py.\nVERDICT: CHANGES_REQUESTED"),
        ("fixer", "fix", "Fixed calc.py."),
        ("reviewer", "review", "All good now.\nVERDICT: APPROVE"),
    ]
    # The fixer's prompt carried the reviewer's exact reply.
    prompts = [m for m in channel_of(run_dir) if m["kind"] == "prompt" and m["step"] == "fix"]
    assert "Found a bug in calc.py." in prompts[0]["text"]
    assert "turns per agent" in done.stdout and "succeeded" in done.stdout


def test_loop_limit_fails_the_run_with_a_clear_outcome(tmp_path: Path) -> None:
    work = project(tmp_path, delay=0.1)
    never = tmp_path / "rev.yaml"
    never.write_text(
        'rules:\n  - reply: "Still broken.\\nVERDICT: CHANGES_REQUESTED"\n    delay: 0.1\n'
    )
    done = run_coder_tui(*RUN_ARGS, cwd=work)
    assert done.returncode == 1
    (run_dir,) = runs_root().iterdir()
    state = json.loads((run_dir / "run.json").read_text())
    assert state["status"] == "failed" and "review-loop" in state["outcome"]
    assert state["step_rounds"]["review"] == 3


def test_unknown_template_or_input_is_a_usage_error(tmp_path: Path) -> None:
    work = project(tmp_path)
    bad = run_coder_tui("run", "no-such-template", "--task", "x", "--headless", cwd=work)
    assert bad.returncode == 2 and "no template named 'no-such-template'" in bad.stderr
    missing = run_coder_tui(
        "run", "mini-review", "--agents", "reviewer=rev,fixer=fix", "--headless", cwd=work
    )
    assert missing.returncode == 2 and "needs task: pass --task" in missing.stderr
    assert not runs_root().exists() or not list(runs_root().iterdir())


CRASH_POINTS = [
    "delivered:1",  # the first prompt was taken, no reply yet
    "delivered:3",  # the last prompt was taken
    "reply_posted:1",  # a reply is in the channel, its step not yet saved as done
    "reply_posted:3",  # the last reply is in, the run not yet ended
    "save:5",  # in the middle of writing run.json (the new file not yet in place)
    "save:11",
]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_9_then_resume_finishes_with_every_message_once(tmp_path: Path, point: str) -> None:
    """coder-tui killed (the whole process group, like kill -9 or a power cut) at a named
    moment of the run; `resume` finishes it with every channel message exactly once."""
    from coder_tui.core.faults import CRASH_ENV

    work = project(tmp_path, delay=0.3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "coder_tui", *RUN_ARGS],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, CRASH_ENV: point},
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, f"not killed at {point}: {stderr!r}"
    (run_dir,) = runs_root().iterdir()
    state = json.loads((run_dir / "run.json").read_text())  # whole, even killed mid-save
    assert state["status"] in ("running", "paused"), state["status"]
    done = run_coder_tui("resume", run_dir.name, "--headless", cwd=work, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    messages = channel_of(run_dir)
    keys = [m["key"] for m in messages if m["key"]]
    assert not [k for k, n in Counter(keys).items() if n > 1], "a message was posted twice"
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    replies = [(m["step"], m["round"]) for m in messages if m["kind"] == "reply"]
    assert replies == [("review", 1), ("fix", 1), ("review", 2)]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"


def mini_review_host(work: Path, options: Any = None) -> Any:
    """A host of the mini-review template over the project's fake agents, with the options
    of ``RUN_ARGS`` (headless unless ``options`` say otherwise)."""
    from coder_tui import paths
    from coder_tui.cli.common import apply_agent_options
    from coder_tui.core.agents.profile import load_profiles
    from coder_tui.core.agents.team import parse_agent_list
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.core.templates import load_templates

    profiles = load_profiles(project=work / ".coder-tui")
    template = load_templates(project=work / ".coder-tui")["mini-review"]
    requests = parse_agent_list("reviewer=rev,fixer=fix", profiles)
    requests = apply_agent_options(requests, ["fixer=approve-edits"], [])
    return RunHost.new(
        paths.runs_dir(),
        work,
        requests,
        profiles,
        template=template,
        inputs={"task": "calc.py"},
        options=options or HostOptions(startup_timeout=15),
    )


async def test_pause_holds_every_delivery_and_the_run_completes_after_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's bar: pause for 5 s mid-run; the event log shows no delivery during the
    pause, and the run completes after resume."""
    import asyncio

    from coder_tui.core.runs import RunStatus

    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))
    host = mini_review_host(project(tmp_path, delay=0.5))
    store = host.store
    try:
        run = asyncio.create_task(host.run())
        deadline = time.monotonic() + 15
        while not store.events("delivered"):
            assert time.monotonic() < deadline, "no delivery within 15 s"
            await asyncio.sleep(0.01)
        host.toggle_pause()
        paused_at = time.time()
        await asyncio.sleep(5)  # the pause itself is what is tested
        assert not run.done()
        resumed_at = time.time()
        host.toggle_pause()
        assert await asyncio.wait_for(run, 60) is RunStatus.SUCCEEDED
    finally:
        await host.stop()
    deliveries = [e["at"] for e in store.events("delivered")]
    assert len(deliveries) == 3
    assert not [at for at in deliveries if paused_at < at < resumed_at]
    kinds = [e["kind"] for e in store.events()]
    assert kinds.index("paused") < kinds.index("resumed")
    # The turn in flight when the pause began still finished during the pause (kept, shown).
    turn_ends = [e["at"] for e in store.events("turn_ended")]
    assert any(paused_at < at < resumed_at for at in turn_ends)


@pytest.mark.parametrize("hooks", ["fake", "none"], ids=["hooks", "screen-only"])
async def test_an_at_mention_sent_while_a_step_waits_for_the_agent_gets_its_own_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hooks: str
) -> None:
    """An @mention typed in the channel just before a step's prompt goes to the same agent:
    the step must record the reply to its prompt, the @mention the reply to the @mention
    (the operator once took the @mention's reply as the step's)."""
    import asyncio

    from coder_tui.core.host import RunUpdated
    from coder_tui.core.runs import RunStatus

    monkeypatch.setenv("FAKE_AGENT_STATE_DIR", str(tmp_path / "fake-state"))
    reviewer = (
        "rules:\n"
        "  - match: side question\n    delay: 1.0\n    reply: SIDE ANSWER\n"
        '  - delay: 0.2\n    reply: "All good.\\nVERDICT: APPROVE"\n'
    )
    host = mini_review_host(project(tmp_path, hooks=hooks, reviewer=reviewer))
    store = host.store

    def pause_before_the_first_step(event: object) -> None:
        # The host says the operator exists before the operator delivers anything.
        if isinstance(event, RunUpdated) and not store.events("paused"):
            host.toggle_pause()

    host.subscribe(pause_before_the_first_step)
    try:
        run = asyncio.create_task(host.run())
        await wait_for(lambda: bool(store.events("waiting_while_paused")), 15)
        await host.user_message("@reviewer side question")
        host.toggle_pause()  # the step's prompt now queues behind the @mention's
        assert await asyncio.wait_for(run, 60) is RunStatus.SUCCEEDED
        await wait_for(lambda: any(m.meta.get("direct") for m in store.channel.messages), 15)
    finally:
        await host.stop()
    replies = [
        (m["step"], m["text"], bool(m["meta"].get("direct")))
        for m in channel_of(store.run_dir)
        if m["kind"] == "reply"
    ]
    assert replies.count((None, "SIDE ANSWER", True)) == 1, replies
    assert ("review", "All good.\nVERDICT: APPROVE", False) in replies, replies
    assert store.state.step_results["review"].outputs["verdict"] == "APPROVE"


def test_an_agent_is_never_sent_its_own_reply_unless_the_template_allows_it(
    tmp_path: Path,
) -> None:
    work = project(tmp_path, delay=0.1)
    template = work / ".coder-tui" / "templates" / "mini-review.yaml"
    # One agent could fill both roles: the fix prompt would quote its own review.
    template.write_text(TEMPLATE.replace("fixer: {prefer: [fix]}", "fixer: {prefer: [rev]}"))
    args = ["run", "mini-review", "--task", "calc.py", "--agents", "solo=rev", "--headless"]
    refused = run_coder_tui(*args, cwd=work)
    assert refused.returncode == 1
    (run_dir,) = runs_root().iterdir()
    outcome = json.loads((run_dir / "run.json").read_text())["outcome"]
    assert "would send solo its own reply (review)" in outcome
    assert "allow_self_review: true" in outcome
    # Saying so in the template lets it through.
    template.write_text(
        TEMPLATE.replace("fixer: {prefer: [fix]}", "fixer: {prefer: [rev]}")
        + "allow_self_review: true\n"
    )
    allowed = run_coder_tui(*args, "--policy", "solo=approve-edits", cwd=work)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


async def test_resume_in_the_tui_after_kill_9_finishes_the_run(tmp_path: Path) -> None:
    """`coder-tui resume RUN` without --headless: the app relaunches the agents on their
    sessions and the operator continues the step in flight."""
    import asyncio

    from coder_tui.cli.common import known_profiles, known_templates
    from coder_tui.core.agents.team import had_prompt
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.core.runs import RunStatus, RunStore
    from coder_tui.ui.app import CoderTuiApp

    os.environ["FAKE_AGENT_STATE_DIR"] = str(tmp_path / "fake-state")
    work = project(tmp_path, delay=1.0)
    run_dir = await asyncio.to_thread(killed_after_first_delivery, work)
    store = RunStore.open(run_dir)
    assert store.status is RunStatus.CRASHED
    project_dir = work / ".coder-tui"
    template = known_templates(project_dir)["mini-review"]
    # Only an agent that had taken a prompt has a session to resume; the others start afresh.
    prompted = {name for name in requests_names(store) if had_prompt(agent_events(run_dir, name))}
    assert prompted and prompted != set(requests_names(store))
    host = RunHost.resumed(
        store, known_profiles(project_dir), template, options=HostOptions.for_tui()
    )
    app = CoderTuiApp(host=host)
    async with app.run_test(size=(160, 45)):
        await wait_for(lambda: store.state.status is RunStatus.SUCCEEDED, 60)
        resumed = {a.name for a in app.agents if "--resume" in a.spec.argv}
        assert resumed == prompted
    messages = channel_of(run_dir)
    keys = [m["key"] for m in messages if m["key"]]
    assert len(keys) == len(set(keys))
    replies = [(m["step"], m["round"]) for m in messages if m["kind"] == "reply"]
    assert replies == [("review", 1), ("fix", 1), ("review", 2)]


def requests_names(store: Any) -> list[str]:
    return list(store.state.agents)


def agent_events(run_dir: Path, name: str) -> Path:
    return run_dir / "agents" / name / "events.jsonl"


def killed_after_first_delivery(work: Path) -> Path:
    """Start a headless run, kill -9 its process group once a prompt was delivered."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "coder_tui", *RUN_ARGS],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def delivered() -> bool:
        events = list(runs_root().glob("*/events.jsonl")) if runs_root().exists() else []
        return bool(events) and '"delivered"' in events[0].read_text()

    deadline = time.monotonic() + 30
    while not delivered():
        assert time.monotonic() < deadline, "the run never delivered a prompt"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (run_dir,) = runs_root().iterdir()
    return run_dir


async def test_quitting_the_tui_mid_run_leaves_it_resumable(tmp_path: Path) -> None:
    """Quit while the reviewer works: the run is kept as paused (not failed or cancelled, no
    failure posted for the agents the quit stops), and `coder-tui resume` finishes it."""
    from coder_tui import paths
    from coder_tui.cli.common import known_profiles, known_templates
    from coder_tui.core.agents.events import ApprovalPolicy
    from coder_tui.core.agents.team import AgentRequest
    from coder_tui.core.host import HostOptions, RunHost
    from coder_tui.ui.app import CoderTuiApp

    os.environ["FAKE_AGENT_STATE_DIR"] = str(tmp_path / "fake-state")
    work = project(tmp_path, delay=3.0)
    project_dir = work / ".coder-tui"
    template = known_templates(project_dir)["mini-review"]
    requests = [
        AgentRequest("reviewer", "rev"),
        AgentRequest("fixer", "fix", ApprovalPolicy.APPROVE_EDITS),
    ]
    host = RunHost.new(
        paths.runs_dir(),
        work,
        requests,
        known_profiles(project_dir),
        template=template,
        inputs={"task": "calc.py"},
        options=HostOptions.for_tui(),
    )
    store = host.store
    app = CoderTuiApp(host=host)
    async with app.run_test(size=(160, 45)) as pilot:
        channel = store.run_dir / "channel.jsonl"
        await wait_for(lambda: channel.exists() and '"prompt"' in channel.read_text(), 30)
        await pilot.press("ctrl+q")  # quit, as a user does
        await wait_for(lambda: not app.is_running, 30)
    saved = json.loads((store.run_dir / "run.json").read_text())
    assert saved["status"] == "paused" and "closed" in saved["outcome"]
    assert not [m for m in channel_of(store.run_dir) if m["kind"] == "system"]
    listed = run_coder_tui("runs", cwd=work)  # right after the quit: paused, not crashed
    (row,) = [line for line in listed.stdout.splitlines() if store.run_dir.name[:15] in line]
    assert "paused" in row and "crashed" not in row, listed.stdout
    try:
        done = run_coder_tui("resume", store.run_dir.name, "--headless", cwd=work, timeout=60)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"resume did not finish: {exc.stdout!r} {exc.stderr!r}")
    assert done.returncode == 0, done.stdout + done.stderr
    replies = [(m["step"], m["round"]) for m in channel_of(store.run_dir) if m["kind"] == "reply"]
    assert replies == [("review", 1), ("fix", 1), ("review", 2)]


async def test_a_run_leaves_the_same_channel_headless_and_in_the_tui(tmp_path: Path) -> None:
    """One host for every front end: the same scripted run (with an approval answered by
    policy) leaves the same channel.jsonl headless and in the TUI, times and ids aside."""
    from coder_tui.core.runs import RunStatus
    from coder_tui.ui.app import CoderTuiApp

    os.environ["FAKE_AGENT_STATE_DIR"] = str(tmp_path / "fake-state")
    headless_work = project(tmp_path / "headless")
    done = run_coder_tui(*RUN_ARGS, cwd=headless_work)
    assert done.returncode == 0, done.stdout + done.stderr
    (headless_dir,) = runs_root().iterdir()

    tui_work = project(tmp_path / "tui")
    from coder_tui.core.host import HostOptions

    host = mini_review_host(tui_work, HostOptions.for_tui())  # its panes start the agents
    app = CoderTuiApp(host=host)
    async with app.run_test(size=(160, 45)):
        await wait_for(lambda: host.state.status is RunStatus.SUCCEEDED, 60)

    def comparable(run_dir: Path, work: Path) -> list[tuple[Any, ...]]:
        return [
            (
                m["author"],
                m["kind"],
                m["text"].replace(str(work), "<work>"),
                m["targets"],
                m["step"],
                m["round"],
                m["key"],
                m["meta"],
            )
            for m in channel_of(run_dir)
        ]

    headless = comparable(headless_dir, headless_work)
    tui = comparable(host.store.run_dir, tui_work)
    assert any(m[1] == "system" and "approved by approve-edits" in m[2] for m in headless)
    assert tui == headless


# A reply that tries to take the user's terminal over (title, clipboard, a hyperlink, a screen
# clear, 8-bit CSI, a bidi override) and holds rich markup. YAML double quotes: \e is ESC.
HOSTILE = (
    r"Title\e]0;pwned\a clip\e]52;c;cHduZWQ=\a link \e]8;;https://evil.example\e\\here"
    r"\e]8;;\e\\ clear\e[2J c1\x9b2J rtl \u202Eabc\u202C see [/tmp/calc.py] and [bold red]x[/]"
)
HOSTILE_REVIEWER = (
    "rules:\n"
    "  - delay: {delay}\n"
    f'    reply: "{HOSTILE}\\nFILE: [/tmp/calc.py] \\e]0;pwned\\a\\nVERDICT: APPROVE"\n'
)


def assert_terminal_safe(output: str) -> None:
    """What a command printed holds no control sequence and shows the agent's text as text."""
    assert "\x1b" not in output and "\x9b" not in output and "\x07" not in output, output
    assert "\u202e" not in output, output
    assert "[/tmp/calc.py]" in output and "[bold red]x[/]" in output, output
    assert "pwned" in output and "52;c;" in output  # shown, not silently dropped


def test_hostile_reply_is_printed_inert_headless_in_replay_and_in_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply's escape sequences never reach the user's terminal and its brackets are never
    read as rich markup: the headless run, `replay` and `runs` show them as visible text."""
    work = project(tmp_path, delay=0.1, reviewer=HOSTILE_REVIEWER)
    template = work / ".coder-tui" / "templates" / "mini-review.yaml"
    template.write_text(
        TEMPLATE.replace(
            'verdict: {marker: "VERDICT:"}',
            'verdict: {marker: "VERDICT:"}\n      file: {marker: "FILE:"}',
        )
    )
    done = run_coder_tui(*RUN_ARGS, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_terminal_safe(done.stdout)
    assert "outcome: succeeded" in done.stdout
    (run_dir,) = runs_root().iterdir()
    state = json.loads((run_dir / "run.json").read_text())
    assert state["step_results"]["review"]["outputs"]["file"].startswith("[/tmp/calc.py] \x1b]")

    replay = run_coder_tui("replay", run_dir.name, cwd=work)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert_terminal_safe(replay.stdout)
    assert "timeline" in replay.stdout and "run_ended" in replay.stdout

    # An outcome can quote what an agent said (a failure reason): as if this one did.
    (reply,) = [m["text"] for m in channel_of(run_dir) if m["kind"] == "reply"]
    assert "\x1b]52;c;" in reply and "\x9b" in reply  # the agent's text, escapes and all
    state["outcome"] = reply.replace("\n", " ")
    (run_dir / "run.json").write_text(json.dumps(state))
    monkeypatch.setenv("COLUMNS", "400")  # the outcome on one line of the table
    listed = run_coder_tui("runs", cwd=work)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert_terminal_safe(listed.stdout)
