"""Key-to-screen latency of a focused pane, with the other panes idle and while they stream.

Set-up: a headless ``CoderTuiApp`` (``run_test(size=(160, 45))``, the real compositor) with
three panes. Pane 0 runs a small Python child in raw mode that, for every byte it reads, redraws
its first row as ``ECHO <n> <char>`` (n = bytes read so far). Panes 1 and 2 run either ``cat``
with no input (**idle**) or ``bash -c 'while :; do cat FILE; done'`` of the mixed test stream
(**stream**: two panes flooding as fast as the app drains them).

What exactly is measured, per key (letters a..z in turn):

* ``t_send``: ``time.perf_counter()`` right before ``app.post_message(events.Key(ch, ch))``.
  That is the message a real terminal driver posts for a key press, so the key takes the real
  path: the app's queue, priority bindings, forwarding to the focused pane, ``on_key`` ->
  key encoder -> PTY write. (``pilot.press`` is not used: it waits for the app to go idle and
  would add its own overhead.)
* ``emulator``: the pane-0 session's ``on_output`` listener (public API) sees the child's echo
  in ``screen.text()``: key -> Textual -> PTY -> child -> PTY -> emulator round trip.
* ``strip``: pane 0's ``_frame`` (wrapped on that instance only) has rebuilt row 0's Strip with
  the echo: from here ``render_line(0)`` returns it (the pane's 60 fps coalescing is included).
* ``drawn`` (the headline figure): Textual's compositor called pane 0's ``render_line(0)`` and
  got the strip with the echo (wrapped on that instance): the screen update that puts the echo
  on the terminal is being composed and is written to the driver in the same call chain. This
  includes Textual's own 60 fps screen-update timer.

Nothing polls on the loop while waiting (the hooks set an ``asyncio.Event``), so the
benchmark does not steal the loop from the app. After each echo is drawn the next key is sent
after a pseudo-random pause of 5..50 ms (seeded; typing-like, and it avoids locking onto the
frame timer). 10 warm-up keys are not counted.

Reference in the same run: the same echo child in a tmux 3.3a pane (private socket, 160x45
window with three panes, the other two idle ``cat`` or the same flooding loop). Keys go in
through a tmux control-mode client (``tmux -C attach``, ``refresh-client -f no-output``) as
``send-keys -l``, and ``capture-pane -p -S 0 -E 0`` of the echo pane is polled every 1 ms over
the same connection until the echo shows; a control-mode client avoids timing a process
start per key. tmux's figure is "tmux's grid has it" (tmux redraws a real client right after
parsing, with no frame-rate limit), so it is compared with coder-tui's ``drawn``.

Also printed per phase: the stage split (emulator -> strip, strip -> drawn) and the garbage
collections that ran (``gc.callbacks``: count, total and longest pause, gen2 pauses).
``--what-if`` applies in-process monkeypatches (see WHAT_IFS) to try a suggested change without
editing coder_tui/; the output then says ``WHAT-IF (not the shipped code)``.

Usage::

    .venv/bin/python benchmarks/key_latency.py                  # 1000 keys per phase
    .venv/bin/python benchmarks/key_latency.py --quick          # 100 keys, 50 for tmux
    .venv/bin/python benchmarks/key_latency.py --phases stream --no-tmux \
        --what-if fps120,bounded-styles,gc-freeze

Not a test: it prints p50/p99/max per phase, the tmux ratios and the target (p99 < 30 ms while
the others stream), and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path set-up)
from _common import OUT_DIR, Tmux, banner, percentile, ratio, verdict
from stream_gen import ensure_stream_file

ECHO_CHILD = r"""
import os, sys, tty
tty.setraw(0)
os.write(1, b"\x1b[2J\x1b[HREADY")
n = 0
while True:
    data = os.read(0, 1024)
    if not data:
        break
    out = []
    for c in data:
        n += 1
        out.append(b"\x1b[1;1H\x1b[2KECHO %06d %c" % (n, c))
    os.write(1, b"".join(out))
"""
LETTERS = "abcdefghijklmnopqrstuvwxyz"
WARMUP = 10
KEY_TIMEOUT = 5.0


def echo_child_path() -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "echo_child.py"
    path.write_text(ECHO_CHILD)
    return path


def other_commands(phase: str, stream: Path) -> list[list[str]]:
    if phase == "idle":
        return [["cat"], ["cat"]]
    loop = f"while :; do cat {shlex.quote(str(stream))}; done"
    return [["bash", "-c", loop], ["bash", "-c", loop]]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


def fmt(st: dict[str, float]) -> str:
    return (
        f"p50 {st['p50'] * 1000:6.2f} ms  p99 {st['p99'] * 1000:6.2f} ms  "
        f"max {st['max'] * 1000:6.2f} ms  (n={int(st['n'])})"
    )


# --------------------------------------------------------------------------- what-ifs

WHAT_IFS = {
    "bounded-styles": "TerminalPane._style cache cleared at 4096 entries (it is unbounded)",
    "gc-freeze": "gc.freeze() once the app is up, gen0 threshold 10000 (default 700)",
    "unfocused-30fps": "panes without focus draw at most 30 frames/s (focused: 60)",
    "fps120": "TEXTUAL_FPS=120 (Textual's screen-update timer; must precede textual import)",
}


def apply_what_ifs(names: list[str]) -> None:
    """In-process monkeypatches to try a suggested change without editing coder_tui/.

    They only affect this benchmark process; each is described in WHAT_IFS.
    """
    import os

    if "fps120" in names:
        if "textual" in sys.modules:
            raise RuntimeError("fps120 must be applied before textual is imported")
        os.environ["TEXTUAL_FPS"] = "120"
    from coder_tui.ui.widgets import terminal_pane as tp

    if "bounded-styles" in names:
        original_style = tp.TerminalPane._style

        def bounded_style(self, cell):  # type: ignore[no-untyped-def]
            if len(self._styles) > 4096:
                self._styles.clear()
            return original_style(self, cell)

        tp.TerminalPane._style = bounded_style  # type: ignore[method-assign]
    if "unfocused-30fps" in names:

        def schedule(self) -> None:  # type: ignore[no-untyped-def]
            if self._frame_handle is not None:
                return
            rate = tp.FRAME_RATE if self.has_focus else 30
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_frame + 1 / rate - time.monotonic())
            self._frame_handle = loop.call_later(delay, self._frame)

        tp.TerminalPane._schedule_frame = schedule  # type: ignore[method-assign]
    if "gc-freeze" in names:
        gc.set_threshold(10_000, 10, 10)


# --------------------------------------------------------------------------- coder-tui


async def _coder_tui(
    phase: str, keys: int, stream: Path, seed: int, profile: str | None, what_ifs: list[str]
) -> dict[str, list[float]]:
    from textual import events

    from coder_tui.ui.app import CoderTuiApp
    from coder_tui.ui.widgets.terminal_pane import TerminalPane

    echo = echo_child_path()
    commands = [[sys.executable, str(echo)], *other_commands(phase, stream)]
    app = CoderTuiApp(commands)
    rng = random.Random(seed)
    out: dict[str, list[float]] = {
        "emulator": [],
        "strip": [],
        "drawn": [],
        "d_frame": [],
        "d_update": [],
    }
    timeouts = 0
    async with app.run_test(size=(160, 45)) as pilot:
        pane = app.screen.query_one("#pane-0", TerminalPane)
        session = app.sessions[0]
        deadline = time.monotonic() + 10
        while "READY" not in session.screen.text() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert app.focused is pane, f"pane 0 must have focus, got {app.focused!r}"
        if "gc-freeze" in what_ifs:
            gc.collect()
            gc.freeze()

        want: list[str | None] = [None]
        marks: dict[str, float] = {}
        drawn_evt = asyncio.Event()

        def on_output() -> None:
            w = want[0]
            if w is not None and "emulator" not in marks:
                first = session.screen.text().split("\n", 1)[0]
                if first.startswith(w):
                    marks["emulator"] = time.perf_counter()

        session.on_output(on_output)
        original_frame = pane._frame
        original_render_line = pane.render_line

        def frame_hook() -> None:
            original_frame()
            w = want[0]
            if (
                w is not None
                and "strip" not in marks
                and pane._strips
                and pane._strips[0].text.startswith(w)
            ):
                marks["strip"] = time.perf_counter()

        def render_line_hook(y: int):  # type: ignore[no-untyped-def]
            strip = original_render_line(y)
            w = want[0]
            if y == 0 and w is not None and "drawn" not in marks and strip.text.startswith(w):
                marks["drawn"] = time.perf_counter()
                drawn_evt.set()
            return strip

        pane._frame = frame_hook  # type: ignore[method-assign]
        pane.render_line = render_line_hook  # type: ignore[method-assign]

        gc_pauses: list[tuple[int, float]] = []
        gc_start: list[float] = [0.0]

        def gc_cb(phase_: str, info: dict[str, int]) -> None:
            if phase_ == "start":
                gc_start[0] = time.perf_counter()
            else:
                gc_pauses.append((info["generation"], time.perf_counter() - gc_start[0]))

        gc.callbacks.append(gc_cb)
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        for i in range(1, keys + WARMUP + 1):
            ch = LETTERS[(i - 1) % len(LETTERS)]
            marks.clear()
            drawn_evt.clear()
            want[0] = f"ECHO {i:06d} {ch}"
            t_send = time.perf_counter()
            app.post_message(events.Key(ch, ch))
            try:
                await asyncio.wait_for(drawn_evt.wait(), KEY_TIMEOUT)
            except TimeoutError:
                timeouts += 1
                print(
                    f"  key {i}: no echo drawn within {KEY_TIMEOUT}s "
                    f"(row 0: {session.screen.text().splitlines()[:1]})",
                    flush=True,
                )
                break
            if i > WARMUP:
                for k in ("emulator", "strip", "drawn"):
                    if k in marks:
                        out[k].append(marks[k] - t_send)
                if "emulator" in marks and "strip" in marks:
                    out["d_frame"].append(marks["strip"] - marks["emulator"])
                if "strip" in marks:
                    out["d_update"].append(marks["drawn"] - marks["strip"])
            await asyncio.sleep(rng.uniform(0.005, 0.05))
        if prof is not None:
            prof.disable()
            prof.dump_stats(profile)
        gc.callbacks.remove(gc_cb)
        want[0] = None
        out["_gc2"] = [d for g, d in gc_pauses if g == 2]
        out["_gc_all"] = [d for _, d in gc_pauses]
        out["_received"] = [float(s.bytes_received) for s in app.sessions]
        out["_timeouts"] = [float(timeouts)]
        await app.close_sessions()
        await pilot.pause()
    return out


# --------------------------------------------------------------------------- tmux


class ControlClient:
    """A tmux control-mode client: one command at a time, reply lines returned."""

    def __init__(self, tmux: Tmux, target: str) -> None:
        # -f no-output: no %output notifications (the flooding panes would bury the replies).
        self.proc = subprocess.Popen(
            [
                "tmux",
                "-L",
                tmux.socket,
                "-f",
                str(tmux.conf),
                "-C",
                "attach",
                "-f",
                "no-output",
                "-t",
                target,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin
        self._out = self.proc.stdout

    def _readline(self) -> bytes:
        line = self._out.readline()
        if not line:
            raise EOFError("tmux control client closed")
        return line.rstrip(b"\n")

    def command(self, cmd: str) -> list[bytes]:
        self._in.write(cmd.encode() + b"\n")
        self._in.flush()
        lines: list[bytes] = []
        in_block = False
        while True:
            line = self._readline()
            if not in_block:
                # flags 1 = a reply to a command of ours (0: attach's own block)
                if line.startswith(b"%begin") and line.split()[-1] == b"1":
                    in_block = True
                continue  # a notification
            if line.startswith(b"%end") or line.startswith(b"%error"):
                if line.startswith(b"%error"):
                    raise RuntimeError(f"tmux {cmd!r}: {lines!r}")
                return lines
            lines.append(line)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._in.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _tmux(phase: str, keys: int, stream: Path, seed: int) -> dict[str, list[float]]:
    tmux = Tmux("benchkeys", ["set -g status off", "set -g history-limit 2000"])
    tmux.kill_server()
    tmux.wait_gone()
    echo = echo_child_path()
    others = [shlex.join(c) for c in other_commands(phase, stream)]
    rng = random.Random(seed)
    lat: list[float] = []
    timeouts = 0
    try:
        tmux.cmd(
            "new-session",
            "-d",
            "-s",
            "keys",
            "-x",
            "160",
            "-y",
            "45",
            shlex.join([sys.executable, str(echo)]),
        )
        tmux.cmd("split-window", "-h", "-t", "keys:0.0", others[0])
        tmux.cmd("split-window", "-v", "-t", "keys:0.0", others[1])
        pane_id = tmux.cmd("display-message", "-p", "-t", "keys:0.0", "#{pane_id}").strip()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "READY" in tmux.cmd("capture-pane", "-p", "-t", pane_id):
                break
            time.sleep(0.01)
        cc = ControlClient(tmux, "keys")
        try:
            for i in range(1, keys + WARMUP + 1):
                ch = LETTERS[(i - 1) % len(LETTERS)]
                want = f"ECHO {i:06d} {ch}".encode()
                t_send = time.perf_counter()
                cc.command(f"send-keys -t {pane_id} -l {ch}")
                seen = None
                limit = t_send + KEY_TIMEOUT
                while time.perf_counter() < limit:
                    first = cc.command(f"capture-pane -p -t {pane_id} -S 0 -E 0")
                    if first and first[0].startswith(want):
                        seen = time.perf_counter()
                        break
                    time.sleep(0.001)
                if seen is None:
                    timeouts += 1
                    print(f"  tmux key {i}: no echo within {KEY_TIMEOUT}s", flush=True)
                    break
                if i > WARMUP:
                    lat.append(seen - t_send)
                time.sleep(rng.uniform(0.005, 0.05))
        finally:
            cc.close()
    finally:
        tmux.kill_server()
    return {"drawn": lat, "_timeouts": [float(timeouts)]}


# --------------------------------------------------------------------------- main


def main() -> int:
    from coder_tui.ui import prepare_textual_environment

    prepare_textual_environment()  # exactly as the coder-tui command does, before textual loads
    p = argparse.ArgumentParser(description="key -> echo drawn latency, coder-tui vs tmux")
    p.add_argument("--keys", type=int, default=None, help="keys per coder-tui phase (1000)")
    p.add_argument("--tmux-keys", type=int, default=None, help="keys per tmux phase (200)")
    p.add_argument("--stream-mb", type=float, default=20.0, help="file the flooders cat (20)")
    p.add_argument("--quick", action="store_true", help="100 keys (tmux 50), 5 MiB stream")
    p.add_argument("--phases", default="idle,stream")
    p.add_argument("--no-tmux", action="store_true")
    p.add_argument(
        "--what-if",
        default="",
        help="comma list of in-process experiments: "
        + "; ".join(f"{k}: {v}" for k, v in WHAT_IFS.items()),
    )
    p.add_argument(
        "--profile-stream", metavar="FILE", help="cProfile the coder-tui stream phase into FILE"
    )
    args = p.parse_args()
    keys = args.keys or (100 if args.quick else 1000)
    tmux_keys = args.tmux_keys or (50 if args.quick else 200)
    stream_mb = 5.0 if args.quick and args.stream_mb == 20.0 else args.stream_mb
    phases = [x.strip() for x in args.phases.split(",") if x.strip()]

    what_ifs = [x.strip() for x in args.what_if.split(",") if x.strip()]
    for w in what_ifs:
        if w not in WHAT_IFS:
            p.error(f"unknown --what-if {w!r}; known: {', '.join(WHAT_IFS)}")
    apply_what_ifs(what_ifs)
    banner("key latency: post Key -> echo drawn in pane 0 (3 panes, 160x45)")
    for w in what_ifs:
        print(f"WHAT-IF (not the shipped code): {w}: {WHAT_IFS[w]}")
    stream = ensure_stream_file(stream_mb)
    print(
        f"flood stream: {stream}  keys per phase: coder-tui {keys}, tmux {tmux_keys} "
        f"(+{WARMUP} warm-up each)\n",
        flush=True,
    )

    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    for phase in phases:
        t = time.perf_counter()
        prof = args.profile_stream if phase == "stream" else None
        res = asyncio.run(_coder_tui(phase, keys, stream, 1, prof, what_ifs))
        results[("coder-tui", phase)] = res
        rx = ", ".join(f"{b / 1e6:.1f}" for b in res["_received"])
        print(
            f"coder-tui {phase:6s}: done in {time.perf_counter() - t:.1f} s; MB received per "
            f"pane: {rx}; timeouts {int(res['_timeouts'][0])}",
            flush=True,
        )
        for k in ("emulator", "strip", "drawn"):
            print(f"    {k:9s} {fmt(stats(res[k]))}")
        print(
            "    stages: emulator -> strip (pane frame timer + row rebuild): "
            f"{fmt(stats(res['d_frame']))}"
        )
        print(
            "            strip -> drawn (Textual screen-update timer + compositor): "
            f"{fmt(stats(res['d_update']))}"
        )
        g2, ga = res["_gc2"], res["_gc_all"]
        print(
            f"    GC during the phase: {len(ga)} collections, total {sum(ga) * 1000:.0f} ms, "
            f"max {max(ga, default=0) * 1000:.1f} ms; gen2: {len(g2)}, "
            f"max {max(g2, default=0) * 1000:.1f} ms"
        )
        if not args.no_tmux:
            t = time.perf_counter()
            res = _tmux(phase, tmux_keys, stream, 1)
            results[("tmux", phase)] = res
            print(
                f"tmux      {phase:6s}: done in {time.perf_counter() - t:.1f} s; timeouts "
                f"{int(res['_timeouts'][0])}",
                flush=True,
            )
            print(f"    {'visible':9s} {fmt(stats(res['drawn']))}")
        print(flush=True)

    print("summary (key -> echo drawn):")
    for phase in phases:
        c = stats(results[("coder-tui", phase)]["drawn"])
        line = f"  {phase:6s} coder-tui: {fmt(c)}"
        if ("tmux", phase) in results:
            t = stats(results[("tmux", phase)]["drawn"])
            line += (
                f"\n  {phase:6s} tmux     : {fmt(t)}\n"
                f"  {phase:6s} ratio coder-tui/tmux: p50 {ratio(c['p50'], t['p50'])}, "
                f"p99 {ratio(c['p99'], t['p99'])}"
            )
        print(line)
        if phase == "stream":
            print(
                f"  target: p99 < 30 ms while the others stream: {c['p99'] * 1000:.1f} ms "
                f"{verdict(c['p99'] < 0.030)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
