"""What coder-tui prints outside the TUI from agent text (the headless channel and summary,
``replay``, ``runs``, error messages): no control sequence reaches the terminal and no bracket
is read as rich markup. In-process, over hand-made run folders; the functional test
``test_hostile_reply_is_printed_inert_headless_in_replay_and_in_runs`` does it with real runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from coder_tui.cli import replay, runs
from coder_tui.cli.common import fail
from coder_tui.core.channel import MessageKind
from coder_tui.core.runs import EventKind, RunState, RunStatus, RunStore, StepResult
from coder_tui.headless import ChannelPrinter, print_summary

HOSTILE = (
    "Title\x1b]0;pwned\x07 clip\x1b]52;c;cHduZWQ=\x07 link \x1b]8;;https://evil\x1b\\here"
    "\x1b]8;;\x1b\\ clear\x1b[2J c1\x9b2J rtl \u202eabc\u202c [/tmp/calc.py] [bold red]x[/]"
)


def assert_inert(output: str) -> None:
    """No ESC, BEL, C1 or bidi override printed; the markup-looking text printed literally."""
    assert not any(c in output for c in "\x1b\x07\x9b\u202e"), repr(output)
    flat = " ".join(output.split())  # tables wrap long cells
    assert "[/tmp/calc.py]" in flat and "[bold red]x[/]" in flat, output
    assert r"\x1b]0;pwned\x07" in flat and r"\x9b2J" in flat, output  # shown, not dropped


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=400, highlight=False), out


def hostile_run(root: Path) -> RunStore:
    """A finished run whose reply, outputs, outcome and names all carry ``HOSTILE``."""
    state = RunState(
        template="review[/x]",
        title="Review",
        cwd="/tmp",
        status=RunStatus.SUCCEEDED,
        outcome=HOSTILE,
        step_rounds={"review[/x]": 1},
        loop_rounds={"loop[/y]": 1},
        counters={"turns:rev[/z]": 1},
        step_results={
            "review[/x]": StepResult(
                reply=HOSTILE,
                outputs={"verdict": HOSTILE, "file": "[/tmp/calc.py]"},
                agent="rev[/z]",
            )
        },
    )
    store = RunStore.create(root, state)
    store.event(EventKind.STEP_STARTED, step="review[/x]", round=1)
    store.channel.post(
        "rev[/z]", HOSTILE, kind=MessageKind.REPLY, targets=["a[/b]"], step="s[/c]", round=1
    )
    store.event(EventKind.STEP_DONE, step="review[/x]", round=1, outputs={"verdict": HOSTILE})
    return store


def test_the_channel_printer_prints_a_hostile_message_inert(tmp_path: Path) -> None:
    out_console, out = console()
    (message,) = hostile_run(tmp_path / "runs").channel.messages
    ChannelPrinter(out_console)(message)
    assert_inert(out.getvalue())
    assert "rev[/z] → a[/b]  [s[/c] #1]" in out.getvalue()


def test_the_summary_of_a_hostile_run_prints_inert(tmp_path: Path) -> None:
    out_console, out = console()
    print_summary(out_console, hostile_run(tmp_path / "runs"))  # no MarkupError
    assert_inert(out.getvalue())
    assert "outcome: succeeded — Title" in out.getvalue()
    assert "loop[/y]: 1" in out.getvalue() and "rev[/z]=1" in out.getvalue()


def test_replay_and_runs_print_a_hostile_run_inert(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coder_tui import paths

    store = hostile_run(paths.runs_dir())
    monkeypatch.setenv("COLUMNS", "400")  # rows on one line each
    assert replay.main([store.run_id]) == 0
    assert_inert(capsys.readouterr().out)
    assert runs.main([]) == 0
    listed = capsys.readouterr().out
    assert_inert(listed)
    assert "review[/x]" in listed


def test_an_error_message_quoting_a_file_is_printed_inert(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert fail(f"bad template: {HOSTILE}") == 2
    assert_inert(capsys.readouterr().err)


def test_templates_lists_a_project_template_inert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cloned project's template file is not trusted to drive the terminal either."""
    from coder_tui.cli import templates

    folder = tmp_path / ".coder-tui" / "templates"
    folder.mkdir(parents=True)
    (folder / "hostile.yaml").write_text(
        "name: hostile\n"
        'title: "Title\\e]0;pwned\\a [/tmp/calc.py] [bold red]x[/] \\x9b2J"\n'
        "category: review\n"
        "description: d\n"
        "roles: {reviewer: {prefer: [claude]}}\n"
        "steps: [{id: review, role: reviewer, prompt: hi}]\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")
    assert templates.main([]) == 0
    assert_inert(capsys.readouterr().out)
