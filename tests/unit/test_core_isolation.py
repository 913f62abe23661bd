"""coder_tui.core must run headless: importing any module under it must not pull in Textual."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_PROBE = textwrap.dedent(
    """
    import importlib
    import pkgutil
    import sys

    import coder_tui.core

    names = ["coder_tui.core"]
    for info in pkgutil.walk_packages(coder_tui.core.__path__, "coder_tui.core."):
        importlib.import_module(info.name)
        names.append(info.name)
    leaked = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
    print("\\n".join(names))
    if leaked:
        sys.exit("textual imported by coder_tui.core: " + ", ".join(leaked[:5]))
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_core_never_imports_textual() -> None:
    result = _run(_PROBE)
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    # Discovery really walked the package (not a vacuous pass).
    assert {"coder_tui.core", "coder_tui.core.emulator", "coder_tui.core.keys"} <= imported


def test_probe_detects_a_textual_import() -> None:
    """The same check fails when Textual is imported, so the test above can fail."""
    result = _run("import textual\n" + _PROBE)
    assert result.returncode != 0
    assert "textual imported by coder_tui.core" in result.stderr
