"""Idle CPU and memory of the real ``coder-tui`` with three panes, next to tmux.

(a) **Idle CPU**: ``.venv/bin/coder-tui --cmd cat --cmd cat --cmd cat`` runs on a PTY this script
owns (160x45, TERM=xterm-256color; a thread drains what the app draws). After start-up has
finished (the app drew its screen and then nothing for 0.5 s) plus 2 s of settling, the CPU
time of the coder-tui process (utime + stime of all its threads, /proc/PID/stat) is taken over
10 s and reported as % of one core, with the bytes the app wrote to its terminal meanwhile.
Reference: a tmux 3.3a server (private socket) with three panes running ``cat``, with a tmux
client attached on a PTY this script owns (160x45), so that, like coder-tui, it has a terminal
to draw to; tmux server + client CPU over the same 10 s.

(b) **RSS**: the same app with three panes that each ran ``seq 1 12000`` and then ``cat``
(``--cmd "sh -c 'seq 1 12000; exec cat'"``), so each pane holds 10,000 lines of scrollback
(coder-tui keeps 10,000 by default); once the app has settled, VmRSS of the coder-tui process
from /proc/PID/status. Also printed: RSS with three idle ``cat`` panes (from (a)), so the
scrollback's share shows. Reference: tmux server (+ attached client) with
``history-limit 10000`` and the same three panes.

Each measurement runs --runs times (3; --quick: 1, 3 s CPU windows); medians reported.

Usage::

    .venv/bin/python benchmarks/idle_resources.py
    .venv/bin/python benchmarks/idle_resources.py --quick

Not a test: prints figures, ratios and the targets (idle CPU < 2 % of a core, RSS < 150 MB),
and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import signal
import struct
import sys
import termios
import threading
import time
from collections.abc import Sequence

import _common  # noqa: F401  (sys.path set-up)
from _common import (
    ROOT,
    Tmux,
    banner,
    median,
    proc_cpu_seconds,
    proc_status_kib,
    ratio,
    verdict,
)

COLS, ROWS = 160, 45
CODER_TUI = ROOT / ".venv" / "bin" / "coder-tui"
SCROLLBACK_CMD = "sh -c 'seq 1 12000; exec cat'"


class OwnedPty:
    """A program on a PTY we own; a thread drains (and keeps the tail of) what it draws."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        full_env = dict(os.environ)
        full_env.update(TERM="xterm-256color", COLORTERM="truecolor")
        full_env.pop("TMUX", None)
        if env:
            full_env.update(env)
        pid, fd = pty.fork()
        if pid == 0:
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
                os.execve(argv[0], list(argv), full_env)
            finally:
                os._exit(127)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.pid = pid
        self.fd = fd
        self.bytes = 0
        self.last_output = time.monotonic()
        self.tail = bytearray()
        self.seen: set[bytes] = set()
        self._watch: tuple[bytes, ...] = ()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def watch(self, *needles: bytes) -> None:
        self._watch = needles

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.bytes += len(data)
                self.last_output = time.monotonic()
                self.tail += data
                for n in self._watch:
                    if n in self.tail:
                        self.seen.add(n)
                del self.tail[:-4096]

    def wait_quiet(self, quiet: float, min_wait: float, timeout: float = 60.0) -> float:
        """Wait until at least min_wait passed and nothing was drawn for ``quiet`` seconds."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            now = time.monotonic()
            if now - t0 >= min_wait and now - self.last_output >= quiet:
                return now - t0
            time.sleep(0.05)
        return time.monotonic() - t0

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self, quit_bytes: bytes | None = None, timeout: float = 5.0) -> None:
        if quit_bytes:
            with contextlib.suppress(OSError):
                self.write(quit_bytes)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    break
                time.sleep(0.05)
            else:
                self._kill()
        else:
            self._kill()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self._thread.join(timeout=2)

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def cpu_over(pids: Sequence[int], seconds: float) -> float:
    """% of one core used by the given processes together over ``seconds`` of wall time."""
    c0 = sum(proc_cpu_seconds(p) for p in pids)
    t0 = time.perf_counter()
    time.sleep(seconds)
    c1 = sum(proc_cpu_seconds(p) for p in pids)
    return (c1 - c0) / (time.perf_counter() - t0) * 100


def rss_mib(pids: Sequence[int]) -> float:
    return sum(proc_status_kib(p, "VmRSS") for p in pids) / 1024


# --------------------------------------------------------------------------- coder-tui


def coder_tui_run(
    cmds: Sequence[str], window: float, settle: float, needles: Sequence[bytes] = ()
) -> dict[str, float]:
    argv = [str(CODER_TUI)]
    for c in cmds:
        argv += ["--cmd", c]
    app = OwnedPty(argv)
    app.watch(*needles)
    try:
        started = app.wait_quiet(0.5, 1.0)
        time.sleep(settle)
        res: dict[str, float] = {"startup": started}
        b0 = app.bytes
        if window > 0:
            res["cpu"] = cpu_over([app.pid], window)
        res["drawn_bytes_per_s"] = (app.bytes - b0) / max(window, 1e-9) if window > 0 else 0.0
        res["rss"] = rss_mib([app.pid])
        res["found"] = float(all(n in app.seen for n in needles))
        return res
    finally:
        app.close(b"\x11")  # ctrl+q: the app quits after closing its panes


# --------------------------------------------------------------------------- tmux


def tmux_run(
    cmds: Sequence[str], window: float, settle: float, history: int = 2000
) -> dict[str, float]:
    tmux = Tmux("benchidle", ["set -g status off", f"set -g history-limit {history}"])
    tmux.kill_server()
    tmux.wait_gone()
    client = None
    try:
        tmux.cmd("new-session", "-d", "-s", "idle", "-x", str(COLS), "-y", str(ROWS), cmds[0])
        for c in cmds[1:]:
            tmux.cmd("split-window", "-t", "idle", c)
        tmux.cmd("select-layout", "-t", "idle", "tiled")
        server = tmux.server_pid()
        client = OwnedPty(
            [
                "/usr/bin/env",
                "tmux",
                "-L",
                tmux.socket,
                "-f",
                str(tmux.conf),
                "attach",
                "-t",
                "idle",
            ]
        )
        started = client.wait_quiet(0.5, 1.0)
        time.sleep(settle)
        res: dict[str, float] = {"startup": started}
        b0 = client.bytes
        if window > 0:
            res["cpu"] = cpu_over([server, client.pid], window)
        res["drawn_bytes_per_s"] = (client.bytes - b0) / max(window, 1e-9) if window > 0 else 0.0
        res["rss_server"] = rss_mib([server])
        res["rss"] = rss_mib([server, client.pid])
        hist = tmux.cmd("list-panes", "-t", "idle", "-F", "#{history_size}").split()
        res["history_min"] = float(min(int(h) for h in hist))
        return res
    finally:
        tmux.kill_server()
        if client is not None:
            client.close()


# --------------------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description="idle CPU and RSS, coder-tui vs tmux")
    p.add_argument("--quick", action="store_true", help="1 run, 3 s CPU window")
    p.add_argument("--runs", type=int, default=None)
    p.add_argument("--window", type=float, default=None, help="CPU window in seconds (10)")
    args = p.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    window = args.window or (3.0 if args.quick else 10.0)
    settle = 2.0

    banner("idle resources: real coder-tui, three panes, 160x45 PTY")
    if not CODER_TUI.exists():
        print(f"missing {CODER_TUI}: install the project into .venv first")
        return 0
    idle_cmds = ["cat", "cat", "cat"]
    sb_cmds = [SCROLLBACK_CMD] * 3
    print(
        f"(a) idle: coder-tui {' '.join('--cmd ' + c for c in idle_cmds)}; "
        f"settle {settle} s, CPU window {window} s, {runs} run(s)"
    )
    sb_shown = " ".join(f'--cmd "{c}"' for c in sb_cmds)
    print(f"(b) rss : coder-tui {sb_shown}\n", flush=True)

    rows: dict[str, list[dict[str, float]]] = {
        "ct_idle": [],
        "tm_idle": [],
        "ct_sb": [],
        "tm_sb": [],
    }
    for r in range(runs):
        res = coder_tui_run(idle_cmds, window, settle)
        rows["ct_idle"].append(res)
        print(
            f"  run {r + 1} coder-tui idle : CPU {res['cpu']:5.2f} %  "
            f"drawn {res['drawn_bytes_per_s']:.0f} B/s  RSS {res['rss']:6.1f} MiB  "
            f"(startup {res['startup']:.1f} s)",
            flush=True,
        )
        res = tmux_run(idle_cmds, window, settle)
        rows["tm_idle"].append(res)
        print(
            f"  run {r + 1} tmux idle      : CPU {res['cpu']:5.2f} % (server+client)  "
            f"drawn {res['drawn_bytes_per_s']:.0f} B/s  RSS {res['rss']:6.1f} MiB "
            f"(server {res['rss_server']:.1f})",
            flush=True,
        )
        res = coder_tui_run(sb_cmds, 0, settle + 1, needles=(b"12000",))
        rows["ct_sb"].append(res)
        print(
            f"  run {r + 1} coder-tui 3x10k: RSS {res['rss']:6.1f} MiB  "
            f"(last line drawn: {bool(res['found'])}, startup {res['startup']:.1f} s)",
            flush=True,
        )
        res = tmux_run(sb_cmds, 0, settle + 1, history=10000)
        rows["tm_sb"].append(res)
        print(
            f"  run {r + 1} tmux 3x10k     : RSS {res['rss']:6.1f} MiB "
            f"(server {res['rss_server']:.1f}; history_size per pane >= "
            f"{int(res['history_min'])})",
            flush=True,
        )

    def med(key: str, field: str) -> float:
        return median([x[field] for x in rows[key]])

    ct_cpu, tm_cpu = med("ct_idle", "cpu"), med("tm_idle", "cpu")
    ct_rss, tm_rss = med("ct_sb", "rss"), med("tm_sb", "rss")
    ct_rss_idle = med("ct_idle", "rss")
    print("\nresults (median of runs):")
    print(
        f"  idle CPU  coder-tui: {ct_cpu:5.2f} % of a core   tmux (server+client): "
        f"{tm_cpu:5.2f} %   ratio {ratio(ct_cpu, tm_cpu)}   "
        f"target < 2 %: {verdict(ct_cpu < 2.0)}"
    )
    print(
        f"  RSS 3x10k coder-tui: {ct_rss:6.1f} MiB ({ct_rss * 1.048576:.1f} MB)   "
        f"tmux (server+client): {tm_rss:6.1f} MiB   ratio {ratio(ct_rss, tm_rss)}   "
        f"target < 150 MB: {verdict(ct_rss * 1.048576 < 150)}"
    )
    print(
        f"  RSS coder-tui with three idle cat panes: {ct_rss_idle:6.1f} MiB "
        f"(scrollback share: {ct_rss - ct_rss_idle:+.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
