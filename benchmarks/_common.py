"""Small helpers shared by the benchmark scripts (not a test; nothing here asserts timings)."""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"

if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` from a checkout
    sys.path.insert(0, str(ROOT))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))


def command_line() -> str:
    """The exact command that is running, for the report."""
    exe = sys.executable
    try:
        rel = os.path.relpath(exe, os.getcwd())
        if not rel.startswith(".."):
            exe = rel
    except ValueError:
        pass
    return shlex.join([exe, *sys.argv])


def banner(title: str) -> None:
    print(f"== {title}")
    print(f"command: {command_line()}")
    print(f"cwd: {os.getcwd()}")
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}  tmux: {tmux_version()}")
    print(flush=True)


def tmux_version() -> str:
    if shutil.which("tmux") is None:
        return "missing"
    return subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p in 0..100) of the values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(pct / 100 * len(s) + 0.5) - 1))
    return s[k]


def ratio(a: float, b: float) -> str:
    if b == 0 or b != b or a != a:
        return "n/a"
    return f"{a / b:.2f}x"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


class Tmux:
    """A tmux server on a private socket with its own (empty) config."""

    def __init__(self, socket: str, conf_lines: Sequence[str] = ()) -> None:
        self.socket = socket
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        self.conf = OUT_DIR / f"tmux-{socket}.conf"
        self.conf.write_text("".join(f"{line}\n" for line in conf_lines))

    def cmd(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def kill_server(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, text=True)

    def server_pid(self) -> int:
        return int(self.cmd("display-message", "-p", "#{pid}").strip())

    def wait_gone(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(
                ["tmux", "-L", self.socket, "list-sessions"], capture_output=True, text=True
            )
            if r.returncode != 0:
                return
            time.sleep(0.05)


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)
