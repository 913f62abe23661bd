"""Diagnostic: what a flooding pane leaves on the heap (style caches, GC-tracked objects, RSS).

Runs a headless CoderTuiApp with N panes that `cat` the mixed stream in a loop for --seconds,
and prints per pane the size of TerminalPane._styles (CellStyle -> rich Style cache) and the
emulator's style intern cache, the number of GC-tracked objects, the time of a full
gc.collect(), and VmRSS, sampled every few seconds.

    .venv/bin/python benchmarks/heap_probe.py --seconds 30
    .venv/bin/python benchmarks/heap_probe.py --seconds 30 --what-if bounded-styles
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shlex
import sys
import time

import _common  # noqa: F401
from _common import banner, proc_status_kib
from stream_gen import ensure_stream_file


async def run(seconds: float, panes: int, stream_mb: float, every: float) -> None:
    from coder_tui.ui.app import CoderTuiApp
    from coder_tui.ui.widgets.terminal_pane import TerminalPane

    path = ensure_stream_file(stream_mb)
    loop_cmd = ["bash", "-c", f"while :; do cat {shlex.quote(str(path))}; done"]
    app = CoderTuiApp([loop_cmd] * panes)
    async with app.run_test(size=(160, 45)) as pilot:
        t0 = time.perf_counter()
        next_at = t0
        while True:
            now = time.perf_counter()
            if now >= next_at:
                ps = list(app.screen.query(TerminalPane))
                styles = [len(p._styles) for p in ps]
                interned = [len(p.session.screen._style_cache) for p in ps]
                rx = sum(s.bytes_received for s in app.sessions) / 1e6
                tracked = len(gc.get_objects())
                t = time.perf_counter()
                gc.collect()
                full = time.perf_counter() - t
                print(
                    f"  t={now - t0:5.1f}s  received {rx:7.1f} MB  pane._styles {styles}  "
                    f"emulator style cache {interned}  gc-tracked {tracked:,}  "
                    f"full collect {full * 1000:.0f} ms  "
                    f"RSS {proc_status_kib(os.getpid()) / 1024:.0f} MiB",
                    flush=True,
                )
                next_at = now + every
                if now - t0 >= seconds:
                    break
            await asyncio.sleep(0.05)
        await app.close_sessions()
        await pilot.pause()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--panes", type=int, default=2)
    p.add_argument("--stream-mb", type=float, default=20)
    p.add_argument("--every", type=float, default=5)
    p.add_argument("--what-if", default="", help="as in key_latency.py (e.g. bounded-styles)")
    args = p.parse_args()
    from key_latency import WHAT_IFS, apply_what_ifs

    what_ifs = [w for w in args.what_if.split(",") if w]
    apply_what_ifs(what_ifs)
    banner("heap probe: flooding panes")
    for w in what_ifs:
        print(f"WHAT-IF (not the shipped code): {w}: {WHAT_IFS[w]}")
    asyncio.run(run(args.seconds, args.panes, args.stream_mb, args.every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
