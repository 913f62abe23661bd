"""Agent names as a user types them: a name that climbs out of the run folder or takes the
name of a channel author (user, operator, system) stops the command with the rule, exit 2,
before any run folder, agent folder or file is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coder_tui.core.agents.names import AGENT_NAME_RULE


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "coder_tui", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )
    except subprocess.TimeoutExpired as exc:  # the bad name got through: a session opened
        pytest.fail(f"coder-tui {' '.join(args)} did not stop at the agent name: {exc}")


def everything_under(*folders: Path) -> set[Path]:
    return {path for folder in folders if folder.exists() for path in folder.rglob("*")}


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--agents", "../../x=fake"], "../../x"),
        (["--agents", "fake,../../../../x=fake"], "../../../../x"),
        (["run", "review-fix", "--agents", "user=fake", "--task", "t", "--headless"], "user"),
        (["run", "review-fix", "--agents", "rev=fake,operator=fake", "--task", "t"], "operator"),
        (["--agents", "system=fake"], "system"),
    ],
)
def test_a_bad_agent_name_stops_the_command_and_writes_nothing(
    tmp_path: Path, args: list[str], name: str
) -> None:
    home = Path(os.environ["CODER_TUI_HOME"])  # inside HOME
    work = tmp_path / "work"
    work.mkdir()
    before = everything_under(Path(os.environ["HOME"]), tmp_path)
    result = cli(*args, cwd=work)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"agent name {name!r}" in result.stderr, result.stderr
    assert AGENT_NAME_RULE in result.stderr
    # No run folder, no agents/../../x, nothing else.
    assert everything_under(Path(os.environ["HOME"]), tmp_path) == before
    assert not (home / "x").exists() and not (home / "state" / "runs" / "x").exists()


@pytest.mark.parametrize("name", ["../../x", "user"])
def test_resume_refuses_a_run_file_that_names_a_bad_agent(tmp_path: Path, name: str) -> None:
    """A run.json is a file a user can edit: resume checks its agents' names the same way."""
    from coder_tui import paths
    from coder_tui.core.runs import AgentRecord, RunState, RunStatus, RunStore

    state = RunState(
        template="",
        cwd=str(tmp_path),
        agents={"rev": AgentRecord(profile="fake"), name: AgentRecord(profile="fake")},
        status=RunStatus.PAUSED,
        pid=0,
    )
    store = RunStore.create(paths.runs_dir(), state)
    before = everything_under(Path(os.environ["HOME"]), tmp_path)
    result = cli("resume", store.run_id, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"agent name {name!r}" in result.stderr and AGENT_NAME_RULE in result.stderr
    assert everything_under(Path(os.environ["HOME"]), tmp_path) == before


SOLO = """\
name: solo
inputs: [{name: task, description: what to do}]
roles: {worker: {prefer: [fake]}}
steps: [{id: work, role: worker, prompt: "{{ inputs.task }}"}]
"""


def test_a_template_run_never_starts_an_agent_posing_as_the_user(tmp_path: Path) -> None:
    """With roles that the agents can fill, the name is the only mistake: without the check
    the run went ahead and its agent's replies were posted as the user's."""
    work = tmp_path / "work"
    (work / ".coder-tui" / "templates").mkdir(parents=True)
    (work / ".coder-tui" / "templates" / "solo.yaml").write_text(SOLO)
    before = everything_under(Path(os.environ["HOME"]), tmp_path)
    result = cli("run", "solo", "--agents", "user=fake", "--task", "hi", "--headless", cwd=work)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "agent name 'user' is reserved" in result.stderr and AGENT_NAME_RULE in result.stderr
    assert everything_under(Path(os.environ["HOME"]), tmp_path) == before
