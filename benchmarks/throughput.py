"""Throughput: how fast a 120x40 terminal pane drains `cat FILE` of the mixed test stream.

What is measured (each median of --runs runs, default 3, the four kinds interleaved per round):

* **coder-tui (app)**: a headless ``CoderTuiApp([["cat", FILE]])`` (Textual's ``run_test``,
  real compositor, no terminal) sized so the single pane's content area is 120x40. Time from
  the moment the pane starts the child (``TerminalSession.start`` is wrapped to take the time;
  app start-up before that is excluded and printed separately) until BOTH the session's
  emulator shows the final marker screen AND the pane has rendered it: ``render_line(y)`` for
  the marker rows returns strips with the marker text (polled every 5 ms).
* **coder-tui core**: a bare ``TerminalSession`` (PTY + pyghostty, no Textual) on an asyncio
  loop, time from ``start()`` until ``screen.text()`` shows the final screen (polled every 5 ms).
* **tmux 3.3a**: ``tmux -L bench new-session -d -x 120 -y 40 'cat FILE; sleep 1000'`` (private
  socket, config with ``status off`` so the pane is 120x40), ``capture-pane -p`` polled every
  50 ms until the final marker screen shows; time from launching ``new-session``.
* **raw PTY drain**: ``cat FILE`` on a fresh PTY, the master read with ``os.read`` (64 KiB) in a
  blocking Python loop until EIO, no emulation: the ceiling for a Python reader.

MB/s = file bytes / 1e6 / seconds (the PTY's onlcr adds one CR per LF on the way; not counted).
The stream is benchmarks/stream_gen.py's (plain, heavy SGR, Ink repaint; ends with a clear and
END-MARKER lines), generated once into benchmarks/out/.

Usage::

    .venv/bin/python benchmarks/throughput.py              # 100 MiB, 3 runs
    .venv/bin/python benchmarks/throughput.py --quick      # 10 MiB, 1 run
    .venv/bin/python benchmarks/throughput.py --size-mb 50 --runs 5 --only core,tmux
    .venv/bin/python benchmarks/throughput.py --profile-app benchmarks/out/app.prof

Not a test: it prints figures, ratios and the target (coder-tui >= 1.0x tmux), and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import fcntl
import os
import pty
import struct
import sys
import termios
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path set-up)
from _common import Tmux, banner, median, ratio, verdict
from stream_gen import ensure_stream_file, final_lines, screen_is_final

COLS, ROWS = 120, 40
POLL = 0.005
TIMEOUT = 600.0


# --------------------------------------------------------------------------- raw PTY drain


def run_raw(path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            os.execvp("cat", ["cat", str(path)])
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    total = 0
    read = os.read
    try:
        while True:
            try:
                data = read(fd, 65536)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    break
                raise
            if not data:
                break
            total += len(data)
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return {"seconds": time.perf_counter() - t0, "bytes_read": total, "ok": 1.0}


# --------------------------------------------------------------------------- core only


async def _core(path: Path) -> dict[str, float]:
    from coder_tui.core.session import TerminalSession

    session = TerminalSession(["cat", str(path)], cols=COLS, rows=ROWS)
    t0 = time.perf_counter()
    session.start()
    deadline = t0 + TIMEOUT
    ok = False
    while time.perf_counter() < deadline:
        if screen_is_final(session.screen.text().split("\n")):
            ok = True
            break
        await asyncio.sleep(POLL)
    elapsed = time.perf_counter() - t0
    received = session.bytes_received
    await session.close()
    session.screen.close()
    return {"seconds": elapsed, "bytes_read": received, "ok": float(ok)}


def run_core(path: Path) -> dict[str, float]:
    return asyncio.run(_core(path))


# --------------------------------------------------------------------------- coder-tui app


def _pane_shows_final(pane: object) -> bool:
    render_line = pane.render_line  # type: ignore[attr-defined]
    return all(render_line(y).text.rstrip() == want for y, want in enumerate(final_lines()))


async def _app(path: Path, profile: str | None) -> dict[str, float]:
    from coder_tui.core.session import TerminalSession
    from coder_tui.ui.app import CoderTuiApp
    from coder_tui.ui.widgets.terminal_pane import TerminalPane

    started: list[float] = []
    original_start = TerminalSession.start

    def timed_start(self: TerminalSession) -> bool:
        started.append(time.perf_counter())
        return original_start(self)

    TerminalSession.start = timed_start  # type: ignore[method-assign]
    app = CoderTuiApp([["cat", str(path)]])
    t_app = time.perf_counter()
    result: dict[str, float] = {}
    prof = None
    try:
        async with app.run_test(size=(COLS + 2, ROWS + 3)) as pilot:
            if profile:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            while not started:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            t0 = started[0]
            pane = app.screen.query_one("#pane-0", TerminalPane)
            deadline = t0 + TIMEOUT
            ok = False
            while time.perf_counter() < deadline:
                session = app.sessions[0]
                if _pane_shows_final(pane) and screen_is_final(session.screen.text().split("\n")):
                    ok = True
                    break
                await asyncio.sleep(POLL)
            t_end = time.perf_counter()
            if prof is not None:
                prof.disable()
                prof.dump_stats(profile)
            size = pane.content_size
            result = {
                "seconds": t_end - t0,
                "startup": t0 - t_app,
                "ok": float(ok),
                "bytes_read": app.sessions[0].bytes_received,
                "frames": pane.frames_drawn,
                "content_w": size.width,
                "content_h": size.height,
            }
            await app.close_sessions()
            await pilot.pause()
    finally:
        TerminalSession.start = original_start  # type: ignore[method-assign]
    return result


def run_app(path: Path, profile: str | None = None) -> dict[str, float]:
    return asyncio.run(_app(path, profile))


# --------------------------------------------------------------------------- tmux


def run_tmux(path: Path) -> dict[str, float]:
    tmux = Tmux("bench", ["set -g status off", "set -g history-limit 2000"])
    tmux.kill_server()
    tmux.wait_gone()
    t0 = time.perf_counter()
    tmux.cmd("new-session", "-d", "-x", str(COLS), "-y", str(ROWS), f"cat {path}; sleep 1000")
    deadline = t0 + TIMEOUT
    ok = False
    try:
        while time.perf_counter() < deadline:
            text = tmux.cmd("capture-pane", "-p", check=False)
            if screen_is_final(text.split("\n"), allow_exit_line=False):
                ok = True
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        size = tmux.cmd("display-message", "-p", "#{pane_width}x#{pane_height}").strip()
    finally:
        tmux.kill_server()
    w, h = (int(v) for v in size.split("x"))
    return {"seconds": elapsed, "ok": float(ok), "content_w": w, "content_h": h}


# --------------------------------------------------------------------------- main


KINDS = {
    "raw": ("raw PTY drain (os.read, no emulation)", run_raw),
    "tmux": ("tmux 3.3a (capture-pane poll 50 ms)", run_tmux),
    "core": ("coder-tui core (TerminalSession, no Textual)", run_core),
    "app": ("coder-tui app (headless Textual, rendered)", run_app),
}


def main() -> int:
    from coder_tui.ui import prepare_textual_environment

    prepare_textual_environment()  # exactly as the coder-tui command does, before textual loads
    p = argparse.ArgumentParser(description="PTY -> screen throughput, coder-tui vs tmux")
    p.add_argument("--size-mb", type=float, default=None, help="stream size in MiB (100)")
    p.add_argument("--runs", type=int, default=None, help="runs per kind (3; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="10 MiB, 1 run: a smoke run")
    p.add_argument("--only", default="raw,tmux,core,app", help="comma list of kinds to run")
    p.add_argument("--profile-app", metavar="FILE", help="cProfile the app run into FILE")
    p.add_argument(
        "--what-if-pane-fps",
        type=int,
        default=None,
        metavar="N",
        help="experiment: set terminal_pane.FRAME_RATE to N in this process "
        "(not the shipped code; default 60)",
    )
    args = p.parse_args()
    size_mb = args.size_mb or (10.0 if args.quick else 100.0)
    runs = args.runs or (1 if args.quick else 3)
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]

    banner("throughput: 120x40, `cat FILE` of the mixed stream")
    if args.what_if_pane_fps:
        from coder_tui.ui.widgets import terminal_pane

        terminal_pane.FRAME_RATE = args.what_if_pane_fps
        print(f"WHAT-IF (not the shipped code): pane FRAME_RATE = {args.what_if_pane_fps}\n")
    t = time.perf_counter()
    path = ensure_stream_file(size_mb)
    nbytes = path.stat().st_size
    print(
        f"stream: {path} ({nbytes} bytes, {nbytes / 1e6:.1f} MB; ready in "
        f"{time.perf_counter() - t:.1f} s)"
    )
    print(f"runs per kind: {runs} (median reported)\n", flush=True)

    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for r in range(runs):
        for kind in kinds:
            fn = KINDS[kind][1]
            res = fn(path, args.profile_app) if kind == "app" and args.profile_app else fn(path)
            results[kind].append(res)
            mbps = nbytes / 1e6 / res["seconds"]
            extra = ""
            if "content_w" in res:
                extra += f" content={int(res['content_w'])}x{int(res['content_h'])}"
            if "frames" in res:
                extra += f" frames={int(res['frames'])} startup={res['startup']:.2f}s"
            if "bytes_read" in res:
                extra += f" bytes_read={int(res['bytes_read'])}"
            print(
                f"  run {r + 1} {kind:5s}: {res['seconds']:7.2f} s  {mbps:7.1f} MB/s  "
                f"final_screen_ok={bool(res['ok'])}{extra}",
                flush=True,
            )

    print("\nresults (median of runs):")
    mb: dict[str, float] = {}
    for kind in kinds:
        secs = median([x["seconds"] for x in results[kind]])
        mb[kind] = nbytes / 1e6 / secs
        ok = all(x["ok"] for x in results[kind])
        print(
            f"  {KINDS[kind][0]:48s} {secs:7.2f} s  {mb[kind]:7.1f} MB/s  "
            f"final screen {'correct' if ok else 'WRONG/TIMEOUT'}"
        )
    print()
    if "tmux" in mb:
        if "app" in mb:
            good = mb["app"] >= mb["tmux"]
            print(
                f"  ratio coder-tui app / tmux : {ratio(mb['app'], mb['tmux'])}   "
                f"target >= 1.0x: {verdict(good)}"
            )
        if "core" in mb:
            print(f"  ratio coder-tui core / tmux: {ratio(mb['core'], mb['tmux'])}")
    if "raw" in mb:
        for kind in ("app", "core", "tmux"):
            if kind in mb:
                print(f"  ratio {kind} / raw PTY drain : {ratio(mb[kind], mb['raw'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
