"""The drift check: do today's published CLIs still work with coder-tui?

Installs the newest published Claude Code, Codex and Gemini CLI into a folder of their own
(never the pinned ``tests/e2e/clis``), records their screens into the corpus
(``tests/data/screens/<cli>/<version>``, diffable against the pinned versions' screens), runs the
corpus unit tests and the e2e tier against them, and prints one line per CLI. Not part of the
gate: landing never depends on a vendor's release. When a CLI passes, move its pin in
``tests/e2e/clis/package.json`` (and ``npm install --prefix tests/e2e/clis`` for the lock) and
its profile's ``checked_versions``.

    .venv/bin/python -m tests.e2e.drift_check [--dir FOLDER] [--only claude,codex]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PINS = ROOT / "tests" / "e2e" / "clis" / "package.json"
PACKAGES = {
    "claude": "@anthropic-ai/claude-code",
    "codex": "@openai/codex",
    "gemini": "@google/gemini-cli",
}
DEFAULT_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "coder-tui-drift"


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(argv, text=True, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


def install_newest(folder: Path, clis: list[str]) -> dict[str, str]:
    """npm install of each CLI's ``latest`` into ``folder``; returns the installed versions."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = [f"{PACKAGES[cli]}@latest" for cli in clis]
    done = run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", *specs])
    if done.returncode != 0:
        sys.exit(f"drift check: npm install failed ({done.returncode})")
    versions = {}
    for cli in clis:
        manifest = folder / "node_modules" / PACKAGES[cli] / "package.json"
        versions[cli] = json.loads(manifest.read_text())["version"]
    return versions


def cli_of(test_name: str, clis: list[str]) -> str:
    """Which CLI a test is about: its parameter (``test_x[claude]``), else "together"."""
    match = re.search(r"\[([^\]]+)\]$", test_name)
    if match:
        for part in re.split(r"[-,]", match.group(1)):
            if part in clis:
                return part
    return "together"


def summarise(junit: Path, clis: list[str]) -> dict[str, dict[str, list[str]]]:
    results: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "?")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        results[cli_of(name, clis)][outcome].append(f"{case.get('classname')}::{name}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where to install")
    parser.add_argument("--only", default=",".join(PACKAGES), help="comma-separated CLIs")
    parser.add_argument("--no-record", action="store_true", help="do not re-record screens")
    args = parser.parse_args(argv)
    clis = [cli for cli in args.only.split(",") if cli]
    unknown = sorted(set(clis) - set(PACKAGES))
    if unknown:
        parser.error(f"unknown CLI {', '.join(unknown)} (known: {', '.join(PACKAGES)})")
    pins = json.loads(PINS.read_text())["dependencies"]
    newest = install_newest(args.dir, clis)
    bins = args.dir / "node_modules" / ".bin"
    env = {**os.environ, "CODER_TUI_E2E_CLIS": str(bins)}
    if not args.no_record:
        run(
            [sys.executable, "-m", "tests.e2e.record_screens", "--clis", str(bins),
             "--only", ",".join(clis)],
            cwd=ROOT, env=env,
        )  # fmt: skip
    junit = args.dir / "drift-junit.xml"
    tests = ["tests/unit/test_screen_corpus.py", "tests/e2e"]
    run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
         *tests],
        cwd=ROOT, env=env,
    )  # fmt: skip
    results = summarise(junit, clis)
    print("\ndrift check: the newest published CLIs against coder-tui")
    all_green = True
    for cli in [*clis, "together"]:
        if cli not in results and cli == "together":
            continue
        counts = results.get(cli, {})
        passed, failed = len(counts.get("passed", [])), len(counts.get("failed", []))
        skipped = len(counts.get("skipped", []))
        version = f"{pins.get(PACKAGES[cli], '?')} -> {newest[cli]}" if cli in newest else ""
        verdict = "OK" if failed == 0 and passed else "FAILS"
        all_green &= verdict == "OK"
        tally = f"{passed} passed, {failed} failed, {skipped} skipped"
        print(f"  {cli:9} {version:22} {tally}: {verdict}")
        for name in counts.get("failed", []):
            print(f"      failed: {name}")
    if not args.no_record:
        print("\nscreens recorded under tests/data/screens/<cli>/<version>; compare with e.g.")
        for cli in clis:
            old = pins.get(PACKAGES[cli])
            if old and old != newest.get(cli):
                base = f"tests/data/screens/{cli}"
                print(f"  diff -r {base}/{old} {base}/{newest[cli]}")
    return 0 if all_green else 1


if __name__ == "__main__":
    sys.exit(main())
