"""The adapters by name: the values a profile's ``hooks:`` may take, besides ``none``.

The built-in adapters are the modules of this package (other than ``base`` and ``registry``):
each registers its adapter when imported, and they are imported on the first lookup, so adding
a CLI takes one module here and one YAML profile. An adapter from elsewhere (a plugin, a test)
registers itself the same way; its module is named in the hook command, so that the hook
process, a separate Python, registers it too.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from coder_tui.core.agents.adapters.base import CliAdapter

NO_HOOKS = "none"  # a profile without an adapter: turns are read off the screen
_PACKAGE = __name__.rpartition(".")[0]
_NOT_ADAPTERS = {"base", "registry"}

_adapters: dict[str, CliAdapter] = {}
_builtins_loaded = False


class UnknownAdapterError(LookupError):
    """No adapter is registered under that name; the message lists those that are."""


def register_adapter(adapter: CliAdapter, *, replace: bool = False) -> CliAdapter:
    """Make ``adapter`` the one for its ``name``. A second, different adapter for a name is
    refused unless ``replace``: two modules claiming one CLI is a mistake to hear about."""
    name = adapter.name
    if name == NO_HOOKS or not name:
        raise ValueError(f"an adapter cannot be named {name!r}")
    known = _adapters.get(name)
    if known is not None and type(known) is not type(adapter) and not replace:
        raise ValueError(
            f"adapter {name!r} is already registered by {type(known).__module__}; "
            "pass replace=True to replace it"
        )
    _adapters[name] = adapter
    return adapter


def adapter_for(name: str) -> CliAdapter:
    """The adapter a profile's ``hooks:`` names."""
    _load_builtins()
    try:
        return _adapters[name]
    except KeyError:
        known = ", ".join(adapter_names())
        raise UnknownAdapterError(f"no agent CLI adapter {name!r} (known: {known})") from None


def adapter_names() -> list[str]:
    """Every registered adapter's name, sorted."""
    _load_builtins()
    return sorted(_adapters)


def is_builtin(adapter: CliAdapter) -> bool:
    """Whether the adapter ships in this package (every Python finds it by name alone)."""
    return type(adapter).__module__.startswith(_PACKAGE + ".")


def hook_command(events_file: Path, agent: str, kind: str) -> list[str]:
    """The command a CLI's hook runs. The current interpreter by absolute path, so it works
    whether or not the coder-tui script is on the child's PATH; an adapter from outside this
    package is named by its module, which the hook process imports to know it."""
    command = [
        sys.executable,
        "-m",
        "coder_tui.hook",
        "--events",
        str(events_file),
        "--agent",
        agent,
        "--kind",
        kind,
    ]
    adapter = adapter_for(kind)
    if not is_builtin(adapter):
        module = type(adapter).__module__
        if module == "__main__":
            raise ValueError(
                f"adapter {kind!r} is defined in a script: the hook process cannot import it "
                "(define it in a module)"
            )
        command += ["--adapter-module", module]
    return command


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    # The package's folder read directly: pkgutil would import inspect, ~10 ms of every hook.
    names = {
        entry.name.removesuffix(".py")
        for folder in sys.modules[_PACKAGE].__path__
        for entry in os.scandir(folder)
        if entry.name.endswith(".py") and not entry.name.startswith("_")
    }
    for name in sorted(names - _NOT_ADAPTERS):
        importlib.import_module(f"{_PACKAGE}.{name}")
    _builtins_loaded = True
