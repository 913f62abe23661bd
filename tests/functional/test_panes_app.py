"""The panes app driven by Textual's pilot, with real children in real PTYs.

Each test checks what a user would: the exact bytes a child received for the keys typed,
what the pane shows, that focus/maximise/quit keys work, and that no child outlives the app.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.events import MouseScrollDown, MouseScrollUp, Paste

from coder_tui.ui.app import CoderTuiApp, PanesScreen
from coder_tui.ui.widgets.terminal_pane import TerminalPane
from tests.conftest import wait_for

CHILDREN = Path(__file__).resolve().parent.parent / "children"
PY = sys.executable


def recorder(log: Path, *modes: str) -> list[str]:
    argv = [PY, str(CHILDREN / "record_input.py"), str(log)]
    for mode in modes:
        argv += ["--mode", mode]
    return argv


def received(log: Path) -> bytes:
    if not log.exists():
        return b""
    return b"".join(bytes.fromhex(line) for line in log.read_text().split())


def pane_text(pane: TerminalPane) -> str:
    """What the pane shows, from the rendered Strips (not the emulator's own state)."""
    return "\n".join(pane.render_line(y).text for y in range(pane.content_size.height))


def pane(app: CoderTuiApp, index: int) -> TerminalPane:
    return app.screen.query_one(f"#pane-{index}", TerminalPane)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


async def shows(app_pane: TerminalPane, text: str, timeout: float = 5.0) -> None:
    await wait_for(
        lambda: text in pane_text(app_pane),
        timeout,
        message=lambda: f"{text!r} not in pane:\n{pane_text(app_pane)}",
    )


async def got(log: Path, expected: bytes | Callable[[bytes], bool], timeout: float = 5.0) -> None:
    def ok() -> bool:
        data = received(log)
        return expected(data) if callable(expected) else data == expected

    await wait_for(ok, timeout, message=lambda: f"child received {received(log)!r}")


async def test_keys_reach_the_child_as_exact_bytes(tmp_path: Path) -> None:
    log = tmp_path / "keys.log"
    app = CoderTuiApp([recorder(log)])
    async with app.run_test(size=(100, 30)) as pilot:
        first = pane(app, 0)
        await shows(first, "READY")
        assert first.has_focus
        expected = b""
        for key, data in [
            ("a", b"a"),
            ("A", b"A"),
            ("ctrl+c", b"\x03"),
            ("ctrl+d", b"\x04"),
            ("enter", b"\r"),
            ("tab", b"\t"),
            ("shift+tab", b"\x1b[Z"),
            ("backspace", b"\x7f"),
            ("escape", b"\x1b"),
            ("up", b"\x1b[A"),
            ("ctrl+left", b"\x1b[1;5D"),
            ("home", b"\x1b[H"),
            ("delete", b"\x1b[3~"),
            ("pagedown", b"\x1b[6~"),
            ("f1", b"\x1bOP"),
            ("f5", b"\x1b[15~"),
            ("alt+x", b"\x1bx"),
            ("ctrl+z", b"\x1a"),
            ("q", b"q"),
            ("m", b"m"),
        ]:
            await pilot.press(key)
            expected += data
            await got(log, expected)


async def test_app_cursor_mode_and_bracketed_paste_follow_the_child(tmp_path: Path) -> None:
    log = tmp_path / "modes.log"
    app = CoderTuiApp([recorder(log, r"\x1b[?1h", r"\x1b[?2004h")])
    async with app.run_test(size=(100, 30)) as pilot:
        first = pane(app, 0)
        await shows(first, "READY")
        await pilot.press("up")
        await got(log, b"\x1bOA")
        first.post_message(Paste("line one\r\nline two"))
        await got(log, b"\x1bOA\x1b[200~line one\nline two\x1b[201~")


async def test_paste_without_bracketed_mode_sends_carriage_returns(tmp_path: Path) -> None:
    log = tmp_path / "paste.log"
    app = CoderTuiApp([recorder(log)])
    async with app.run_test(size=(100, 30)):
        first = pane(app, 0)
        await shows(first, "READY")
        first.post_message(Paste("a\nb"))
        await got(log, b"a\rb")


async def test_leave_key_enters_navigation_and_keys_stop_reaching_the_child(
    tmp_path: Path,
) -> None:
    left, right = tmp_path / "left.log", tmp_path / "right.log"
    app = CoderTuiApp([recorder(left), recorder(right)])
    async with app.run_test(size=(120, 30)) as pilot:
        await shows(pane(app, 0), "READY")
        await shows(pane(app, 1), "READY")
        await pilot.press("x")
        await got(left, b"x")
        await pilot.press("ctrl+right_square_bracket")
        assert app.focused is None
        # In navigation, plain keys are commands: right selects pane 2, enter enters it.
        await pilot.press("right", "enter")
        assert pane(app, 1).has_focus
        await pilot.press("y")
        await got(right, b"y")
        assert received(left) == b"x"
        # The leave key itself never reaches the child.
        assert b"\x1d" not in received(right)
        await pilot.press("ctrl+right_square_bracket", "1")
        assert pane(app, 0).has_focus


async def test_keys_moved_by_the_users_keymap(tmp_path: Path) -> None:
    """config.yaml's keymap, loaded as the CLI does: the new keys work, the old ones do not
    (the old leave key goes to the child like any other key), and hints show the new keys."""
    from coder_tui import paths
    from coder_tui.core.config import load_config
    from coder_tui.ui.bindings import keymap_issues
    from coder_tui.ui.screens.template_picker import TemplatePicker

    paths.config_dir().mkdir(parents=True)
    paths.config_file().write_text(
        "keymap:\n  pane.leave: ctrl+g\n  run.pick_template: f2\n  agent.approve: y\n"
    )
    log = tmp_path / "a.log"
    app = CoderTuiApp([recorder(log)], keymap=load_config(check_keymap=keymap_issues).keymap)
    async with app.run_test(size=(120, 30)) as pilot:
        await shows(pane(app, 0), "READY")
        await pilot.press("ctrl+right_square_bracket")  # no longer the leave key
        await got(log, b"\x1d")
        assert pane(app, 0).has_focus
        await pilot.press("ctrl+g")
        assert app.focused is None
        assert b"\x07" not in received(log)
        await pilot.press("t")  # no longer the template picker's key
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PanesScreen)
        assert screen._approval_hint() == "^g then y approve · d deny"
        await pilot.press("f2")
        await wait_for(lambda: isinstance(app.screen, TemplatePicker))
        await pilot.press("escape")
        await wait_for(lambda: app.screen is screen)


def test_a_keymap_naming_no_binding_stops_the_app_before_it_starts() -> None:
    from coder_tui.ui.bindings import KeymapError

    with pytest.raises(KeymapError, match=r"keymap: pane.nxt: unknown binding id \(known ids: "):
        CoderTuiApp([["true"]], keymap={"pane.nxt": "j"})


async def test_maximise_shows_one_pane_and_restores(tmp_path: Path) -> None:
    app = CoderTuiApp([recorder(tmp_path / "a.log"), recorder(tmp_path / "b.log")])
    async with app.run_test(size=(120, 30)) as pilot:
        await shows(pane(app, 0), "READY")
        normal_width = pane(app, 0).size.width
        await pilot.press("ctrl+right_square_bracket", "m")
        screen = app.screen
        assert isinstance(screen, PanesScreen)
        assert screen.maximized is pane(app, 0)
        await pilot.pause()
        assert pane(app, 0).size.width > normal_width
        await pilot.press("m")
        assert screen.maximized is None


async def test_resizing_the_app_resizes_the_child_pty(tmp_path: Path) -> None:
    app = CoderTuiApp([[PY, str(CHILDREN / "report_size.py")]])
    async with app.run_test(size=(100, 30)) as pilot:
        first = pane(app, 0)
        size = first.content_size
        await shows(first, f"SIZE {size.width}x{size.height}")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        size = first.content_size
        assert (size.width, size.height) != (98, 27)
        await shows(first, f"SIZE {size.width}x{size.height}")


def wheel(target: TerminalPane, up: bool, x: int = 4, y: int = 2) -> None:
    """One wheel notch over content cell (x, y), as the terminal driver would report it."""
    region = target.content_region
    gutter = target.gutter  # event coordinates are widget-relative, border included
    event_type = MouseScrollUp if up else MouseScrollDown
    target.post_message(
        event_type(
            target,
            x + gutter.left,
            y + gutter.top,
            0,
            -1 if up else 1,
            0,
            False,
            False,
            False,
            screen_x=region.x + x,
            screen_y=region.y + y,
        )
    )


async def test_wheel_scrolls_scrollback_unless_the_child_wants_the_mouse(tmp_path: Path) -> None:
    log = tmp_path / "mouse.log"
    script = "for i in range(300): print(f'line {i}')\nimport time; time.sleep(3600)"
    app = CoderTuiApp([[PY, "-c", script], recorder(log, r"\x1b[?1000h", r"\x1b[?1006h")])
    async with app.run_test(size=(120, 30)):
        printer, mouse_child = pane(app, 0), pane(app, 1)
        await shows(printer, "line 299")
        await shows(mouse_child, "READY")
        offset_before = app.server_terminal(0).screen.scrollback.offset
        wheel(printer, up=True)
        await wait_for(lambda: "line 299" not in pane_text(printer))
        assert app.server_terminal(0).screen.scrollback.offset == offset_before - 3
        # The rows now shown are the three before the old top row.
        assert "line 299" not in pane_text(printer)
        wheel(printer, up=False)
        await shows(printer, "line 299")
        # The recording child enabled SGR mouse reports: the wheel goes to it instead,
        # at 1-based cell coordinates.
        wheel(mouse_child, up=True, x=4, y=2)
        await got(log, b"\x1b[<64;5;3M")
        assert app.server_terminal(1).screen.scrollback.offset == 0


async def test_missing_command_is_shown_in_its_pane_and_the_rest_works(tmp_path: Path) -> None:
    log = tmp_path / "ok.log"
    app = CoderTuiApp([["no-such-program-xyz", "--flag"], recorder(log)])
    async with app.run_test(size=(120, 30)) as pilot:
        broken, good = pane(app, 0), pane(app, 1)
        await shows(broken, "command not found: no-such-program-xyz")
        assert "Traceback" not in pane_text(broken)
        assert "no-such-program-xyz" in str(broken.border_subtitle)
        await shows(good, "READY")
        await pilot.click(good)
        await pilot.press("k")
        await got(log, b"k")


async def test_exit_code_is_shown_when_a_child_exits(tmp_path: Path) -> None:
    app = CoderTuiApp([[PY, "-c", "print('bye'); raise SystemExit(3)"]])
    async with app.run_test(size=(80, 20)):
        first = pane(app, 0)
        await shows(first, "exited with code 3")
        await wait_for(lambda: "exited with code 3" in str(first.border_subtitle))


async def test_quit_kills_every_child_process_group(tmp_path: Path) -> None:
    # bash starts a grandchild in the background: it must die with the pane.
    app = CoderTuiApp([["bash", "-c", "sleep 1000 & echo BG=$!; wait"], ["cat"]])
    async with app.run_test(size=(120, 30)) as pilot:
        await shows(pane(app, 0), "BG=")
        grandchild = int(pane_text(pane(app, 0)).split("BG=")[1].split()[0])
        pids = [s.pty.pid for s in app.sessions if s.pty is not None]
        assert len(pids) == 2 and all(alive(pid) for pid in pids) and alive(grandchild)
        await pilot.press("ctrl+q")
    assert not any(alive(pid) for pid in [*pids, grandchild])


async def test_binary_flood_does_not_freeze_the_ui(tmp_path: Path) -> None:
    log = tmp_path / "typed.log"
    app = CoderTuiApp([[PY, str(CHILDREN / "flood.py"), "2.0"], recorder(log)])
    async with app.run_test(size=(120, 30)) as pilot:
        flood, typed = pane(app, 0), pane(app, 1)
        await shows(typed, "READY")
        await pilot.click(typed)
        # While the other pane floods, each key still reaches its child promptly.
        for n, key in enumerate("abcdefghij", start=1):
            await pilot.press(key)
            await got(log, lambda data, n=n: len(data) == n, timeout=2.0)
        await shows(flood, "FLOOD-DONE", timeout=15.0)
        assert app.server_terminal(0).bytes_received > 1_000_000


@pytest.mark.skipif(
    not any(
        os.access(os.path.join(d, "vim"), os.X_OK) for d in os.environ["PATH"].split(os.pathsep)
    ),
    reason="vim is not installed (.ci/run installs it)",
)
async def test_vim_full_screen_edit_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "note.txt"
    app = CoderTuiApp([["vim", "-u", "NONE", "-N", "-n", str(target)]], cwd=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = pane(app, 0)
        await wait_for(lambda: app.server_terminal(0).screen.alt_screen)
        await shows(editor, "note.txt")
        await pilot.press("i", *"hello 世界", "escape")
        await shows(editor, "hello 世界")
        await pilot.press("colon", "w", "q", "enter")
        await wait_for(lambda: app.server_terminal(0).ended)
    assert target.read_text() == "hello 世界\n"


async def test_refreshes_are_coalesced_to_the_frame_rate(tmp_path: Path) -> None:
    from coder_tui.ui.widgets.terminal_pane import FRAME_RATE

    app = CoderTuiApp([[PY, str(CHILDREN / "flood.py"), "1.5"]])
    async with app.run_test(size=(100, 30)):
        flood = pane(app, 0)
        await wait_for(lambda: app.server_terminal(0).bytes_received > 0)
        start_frames, start = flood.frames_drawn, asyncio.get_running_loop().time()
        await shows(flood, "FLOOD-DONE", timeout=15.0)
        elapsed = asyncio.get_running_loop().time() - start
        frames = flood.frames_drawn - start_frames
        assert app.server_terminal(0).bytes_received > 1_000_000
        # Thousands of reads, yet at most one frame per 1/60 s (+2 for the edges).
        assert 0 < frames <= FRAME_RATE * elapsed + 2, (frames, elapsed)


async def test_synchronized_output_holds_the_repaint_until_the_frame_is_complete(
    tmp_path: Path,
) -> None:
    script = (
        "import sys, time\n"
        "w = sys.stdout.write\n"
        "w('READY\\r\\n'); sys.stdout.flush(); time.sleep(0.3)\n"
        "w('\\x1b[?2026hPARTIAL'); sys.stdout.flush(); time.sleep(0.1)\n"
        "w(' COMPLETE\\x1b[?2026l\\r\\n'); sys.stdout.flush()\n"
        "w('\\x1b[?2026hSTUCK'); sys.stdout.flush(); time.sleep(3600)\n"
    )
    app = CoderTuiApp([[PY, "-c", script]])
    async with app.run_test(size=(100, 30)):
        child = pane(app, 0)
        seen: list[str] = []

        def record_until_stuck() -> bool:
            text = pane_text(child)
            if not seen or seen[-1] != text:
                seen.append(text)
            return "STUCK" in text

        # A child that never ends its synchronized frame is drawn anyway, after the bound.
        await wait_for(record_until_stuck, timeout=5.0, interval=0.002)
        assert any("PARTIAL COMPLETE" in text for text in seen)
        assert not any("PARTIAL" in text and "COMPLETE" not in text for text in seen), seen
