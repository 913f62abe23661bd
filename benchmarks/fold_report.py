"""Summarise a py-spy ``--format raw`` (folded stacks) profile: inclusive/self time per function.

Usage::

    .venv/bin/py-spy record -r 250 -f raw -o benchmarks/out/x.folded -- \\
        .venv/bin/python benchmarks/throughput.py --only app
    .venv/bin/python benchmarks/fold_report.py benchmarks/out/x.folded [--within FUNC] [--top 30]

``--within FUNC`` keeps only samples whose stack contains FUNC (e.g. ``_run_once`` for the
asyncio loop's work), and percentages are of those samples. Frames are shown as
``function (file:line)`` with the line number dropped so a function is counted once.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path})"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("folded")
    p.add_argument("--within", default=None)
    p.add_argument("--top", type=int, default=30)
    p.add_argument(
        "--match",
        action="append",
        default=[],
        help="also print inclusive %% of frames whose name contains this",
    )
    args = p.parse_args()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    with open(args.folded) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count_s = line.rpartition(" ")
            count = int(count_s)
            frames = [_name(x) for x in stack.split(";")]
            if args.within and not any(args.within in fr for fr in frames):
                continue
            total += count
            for name in set(frames):
                inclusive[name] += count
            self_time[frames[-1]] += count
    if not total:
        print("no samples")
        return 0
    print(f"samples: {total}" + (f" (stacks containing {args.within!r})" if args.within else ""))
    print(f"\ntop {args.top} inclusive:")
    for name, n in inclusive.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"\ntop {args.top} self:")
    for name, n in self_time.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    for m in args.match:
        hits = [(n, name) for name, n in inclusive.items() if m in name]
        print(f"\nmatching {m!r}:")
        for n, name in sorted(hits, reverse=True)[:15]:
            print(f"  {100 * n / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
