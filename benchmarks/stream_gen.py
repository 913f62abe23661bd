"""Deterministic test stream for the terminal benchmarks.

Usage::

    python benchmarks/stream_gen.py SIZE_MB > file          # SIZE_MB in MiB, float allowed
    python benchmarks/stream_gen.py 100 --seed 1 > /tmp/stream-100.bin

The stream is made of blocks of about 48 KiB taken in turn from three kinds, so each kind is
roughly a third of the bytes:

* **plain**: plain ASCII text lines of 20..118 characters (``\\n`` line ends, as a file that
  ``cat`` prints; the PTY's onlcr turns them into CRLF), now and then a line longer than 120
  columns that wraps.
* **sgr**: heavily coloured text: nearly every word carries its own SGR: 256-colour and truecolor
  foreground/background (semicolon form, some colon form), bold, italic, underline, faint,
  resets, as syntax highlighters and diff viewers write it.
* **ink**: Ink-style repaint frames like Claude Code's UI: a block of 15 lines (a spinner line with
  a changing elapsed time and token count, a few tool-output lines with changing numbers, a
  bordered input box with box-drawing characters, a status line). Each frame moves the cursor up
  over the previous frame (either one ``CSI N A`` or Ink's per-line ``CSI 2K CSI 1A`` form),
  erases and redraws every line; half of the frames are wrapped in synchronized output
  (``CSI ?2026h`` ... ``CSI ?2026l``); the cursor is hidden while the block animates. After
  some frames the block is "committed" (a few static lines printed) and a new block starts.

The stream always ends with ``ESC[0m ESC[?2026l ESC[?25h ESC[H ESC[2J`` followed by the lines of
:func:`final_lines` (``END-MARKER 1/3 ...`` etc.), so "final screen correct" is checked by
comparing the first rows of the visible screen with :func:`final_lines` (see
:func:`screen_is_final`). The text ``END-MARKER`` never appears before the end.

Importable: :func:`generate` (returns bytes), :func:`write_stream` (to a binary file),
:func:`ensure_stream_file` (cached file under benchmarks/out), :func:`final_lines`,
:func:`screen_is_final`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

MIB = 1024 * 1024
BLOCK = 48 * 1024
OUT_DIR = Path(__file__).resolve().parent / "out"

_WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "function",
    "return",
    "import",
    "class",
    "self",
    "async",
    "await",
    "yield",
    "value",
    "error",
    "result",
    "buffer",
    "stream",
    "render",
    "terminal",
    "pane",
    "session",
    "screen",
    "cursor",
    "scroll",
    "region",
    "colour",
    "style",
    "frame",
    "token",
    "agent",
    "prompt",
    "reply",
    "channel",
]
_SPINNER = "·✢✳✶✻✽"
_FINAL_COUNT = 3


def final_lines(seed: int = 1) -> list[str]:
    """The text rows the screen shows at the end of the stream, top rows of the screen."""
    return [
        f"END-MARKER {i}/{_FINAL_COUNT} seed={seed} the stream ended here"
        for i in range(1, _FINAL_COUNT + 1)
    ]


def screen_is_final(rows: Sequence[str], seed: int = 1, *, allow_exit_line: bool = True) -> bool:
    """Whether visible screen rows (plain text, any trailing blanks) are the final screen.

    The marker lines must be the first rows, exactly; every other row must be blank, except
    (``allow_exit_line``) one line starting with ``[`` such as coder-tui's ``[exited with code
    0]`` notice that the app adds when the child ends.
    """
    want = final_lines(seed)
    got = [r.rstrip() for r in rows]
    if len(got) < len(want) or got[: len(want)] != want:
        return False
    extra = [r for r in got[len(want) :] if r]
    if not extra:
        return True
    return allow_exit_line and len(extra) == 1 and extra[0].startswith("[")


def _plain_block(rng: random.Random, size: int) -> Iterator[bytes]:
    n = 0
    words = _WORDS
    while n < size:
        # 3 % of the lines wrap at 120 columns
        target = rng.randint(130, 300) if rng.random() < 0.03 else rng.randint(20, 118)
        parts: list[str] = []
        length = 0
        while length < target:
            w = rng.choice(words)
            parts.append(w)
            length += len(w) + 1
        line = " ".join(parts)[:target] + "\n"
        b = line.encode()
        n += len(b)
        yield b


def _sgr_word(rng: random.Random, word: str) -> str:
    r = rng.random()
    attrs: list[str] = []
    if r < 0.35:
        attrs.append(f"38;5;{rng.randrange(256)}")
    elif r < 0.7:
        attrs.append(f"38;2;{rng.randrange(256)};{rng.randrange(256)};{rng.randrange(256)}")
    elif r < 0.75:
        # colon form (ITU T.416) that some CLIs emit
        attrs.append(f"38:2::{rng.randrange(256)}:{rng.randrange(256)}:{rng.randrange(256)}")
    else:
        attrs.append(str(rng.choice((31, 32, 33, 34, 35, 36, 91, 92, 93, 94))))
    if rng.random() < 0.25:
        if rng.random() < 0.5:
            attrs.append(f"48;5;{rng.randrange(256)}")
        else:
            attrs.append(f"48;2;{rng.randrange(256)};{rng.randrange(256)};{rng.randrange(256)}")
    if rng.random() < 0.3:
        attrs.append("1")
    if rng.random() < 0.2:
        attrs.append("3")
    if rng.random() < 0.15:
        attrs.append("4")
    if rng.random() < 0.05:
        attrs.append("2")
    seq = "".join(f"\x1b[{a}m" for a in attrs) if rng.random() < 0.3 else f"\x1b[{';'.join(attrs)}m"
    tail = "\x1b[0m" if rng.random() < 0.5 else "\x1b[22;23;24;39;49m"
    return f"{seq}{word}{tail}"


def _sgr_block(rng: random.Random, size: int) -> Iterator[bytes]:
    n = 0
    words = _WORDS
    while n < size:
        cols = 0
        target = rng.randint(30, 118)
        parts: list[str] = []
        if rng.random() < 0.3:  # a "line number" gutter, like bat / delta
            gutter = f"\x1b[38;5;244m{rng.randint(1, 9999):>5} │\x1b[0m "
            parts.append(gutter)
            cols += 8
        while True:
            w = rng.choice(words)
            if cols + len(w) + 1 > target:
                break
            parts.append(_sgr_word(rng, w) + " ")
            cols += len(w) + 1
        b = ("".join(parts) + "\x1b[0m\n").encode()
        n += len(b)
        yield b


_INK_LINES = 15


def _ink_frame(rng: random.Random, tick: int, elapsed: int, tokens: int) -> list[str]:
    spin = _SPINNER[tick % len(_SPINNER)]
    width = 118
    lines = [
        f"\x1b[38;2;215;119;87m{spin}\x1b[0m \x1b[1mThinking…\x1b[0m "
        f"\x1b[2m({elapsed}s · ↑ {tokens} tokens · esc to interrupt)\x1b[0m",
        "",
        "\x1b[1m⏺ \x1b[0mBash(\x1b[1mpytest -q tests/unit\x1b[0m)",
    ]
    for i in range(5):
        passed = (tokens * (i + 3)) % 997
        lines.append(
            f"  ⎿  \x1b[32m{passed} passed\x1b[0m, \x1b[31m{(tokens + i) % 7} failed\x1b[0m in "
            f"{(elapsed * 13 + i) % 100}.{tick % 100:02d}s  \x1b[2m{rng.choice(_WORDS)}\x1b[0m"
        )
    lines.append("")
    lines.append("\x1b[38;5;244m╭" + "─" * (width - 2) + "╮\x1b[0m")
    prompt = f"> {' '.join(rng.choice(_WORDS) for _ in range(tick % 9))}"
    lines.append(
        "\x1b[38;5;244m│\x1b[0m " + prompt.ljust(width - 4)[: width - 4] + " \x1b[38;5;244m│\x1b[0m"
    )
    lines.append("\x1b[38;5;244m╰" + "─" * (width - 2) + "╯\x1b[0m")
    lines.append(
        f"  \x1b[2m? for shortcuts\x1b[0m{' ' * 60}"
        f"\x1b[38;5;114m◯ {tokens % 100}% context left\x1b[0m"
    )
    lines.append(f"  \x1b[2mauto-accept edits on · {tick} frames\x1b[0m")
    lines.append("")
    assert len(lines) == _INK_LINES
    return lines


def _ink_block(rng: random.Random, size: int) -> Iterator[bytes]:
    n = 0
    tick = 0
    elapsed = rng.randint(0, 50)
    tokens = rng.randint(0, 5000)
    out: list[str] = []
    first = True
    while n < size:
        if first:
            out.append("\x1b[?25l")
            prev = 0
            first = False
        frame = _ink_frame(rng, tick, elapsed, tokens)
        sync = tick % 2 == 0
        parts: list[str] = []
        if sync:
            parts.append("\x1b[?2026h")
        if prev:
            if tick % 3 == 0:  # Ink's eraseLines: erase + up, per line
                parts.append("\x1b[2K\x1b[1A" * prev + "\x1b[2K\x1b[G")
            else:
                parts.append(f"\x1b[{prev}A\r")
        for line in frame:
            parts.append(f"\x1b[2K{line}\n")
        if sync:
            parts.append("\x1b[?2026l")
        prev = len(frame)
        tick += 1
        elapsed += tick % 4 == 0
        tokens += rng.randint(1, 40)
        if tick % 40 == 0:  # commit: the frame stays, static output follows, a new block starts
            parts.append("\x1b[?25h")
            for _ in range(rng.randint(2, 6)):
                parts.append(f"\x1b[1m⏺\x1b[0m {' '.join(rng.choice(_WORDS) for _ in range(12))}\n")
            first = True
        b = "".join(parts).encode()
        n += len(b)
        yield b
    yield b"\x1b[?25h"


def iter_stream(size_bytes: int, seed: int = 1) -> Iterator[bytes]:
    """The stream as chunks; total about ``size_bytes`` (blocks are not cut mid-sequence)."""
    rng = random.Random(seed)
    kinds = (_plain_block, _sgr_block, _ink_block)
    n = 0
    k = 0
    while n < size_bytes:
        block = min(BLOCK, size_bytes - n)
        for chunk in kinds[k % 3](rng, block):
            n += len(chunk)
            yield chunk
        k += 1
    yield b"\x1b[0m\x1b[?2026l\x1b[?25h\x1b[H\x1b[2J"
    yield ("\n".join(final_lines(seed)) + "\n").encode()


def generate(size_bytes: int, seed: int = 1) -> bytes:
    return b"".join(iter_stream(size_bytes, seed))


def write_stream(f: object, size_bytes: int, seed: int = 1) -> int:
    """Write the stream to a binary file object; returns bytes written."""
    written = 0
    buf: list[bytes] = []
    pending = 0
    write = f.write  # type: ignore[attr-defined]
    for chunk in iter_stream(size_bytes, seed):
        buf.append(chunk)
        pending += len(chunk)
        if pending >= MIB:
            write(b"".join(buf))
            written += pending
            buf, pending = [], 0
    if buf:
        write(b"".join(buf))
        written += pending
    return written


def ensure_stream_file(size_mb: float, seed: int = 1, directory: Path | None = None) -> Path:
    """A cached pre-generated stream file (benchmarks/out/stream-<size>mb-s<seed>.bin)."""
    directory = directory or OUT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"stream-{size_mb:g}mb-s{seed}.bin"
    if not path.exists() or path.stat().st_size < int(size_mb * MIB):
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            write_stream(f, int(size_mb * MIB), seed)
        os.replace(tmp, path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("size_mb", type=float, help="size in MiB (float allowed)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--stats", action="store_true", help="print the byte share of each kind to stderr"
    )
    args = p.parse_args(argv)
    if args.stats:
        rng = random.Random(args.seed)
        for name, fn in (("plain", _plain_block), ("sgr", _sgr_block), ("ink", _ink_block)):
            total = sum(len(c) for c in fn(rng, BLOCK * 20))
            print(f"{name}: {total} bytes per 20 blocks", file=sys.stderr)
    out = sys.stdout.buffer
    write_stream(out, int(args.size_mb * MIB), args.seed)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
