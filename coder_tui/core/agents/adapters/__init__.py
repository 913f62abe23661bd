"""One adapter per agent CLI: the code a CLI needs beyond its YAML profile.

``base`` says what an adapter is, ``registry`` finds one by the name a profile's ``hooks:``
gives; every other module here is a built-in adapter (``claude``, ``codex``, ``gemini``,
``fake``), found and registered on the first lookup.
"""

from coder_tui.core.agents.adapters.base import (
    CliAdapter,
    HookEventKind,
    HookInstall,
    HookRecord,
    LaunchContext,
    NormalizedHookEvent,
)
from coder_tui.core.agents.adapters.registry import (
    NO_HOOKS,
    UnknownAdapterError,
    adapter_for,
    adapter_names,
    hook_command,
    register_adapter,
)

__all__ = [
    "NO_HOOKS",
    "CliAdapter",
    "HookEventKind",
    "HookInstall",
    "HookRecord",
    "LaunchContext",
    "NormalizedHookEvent",
    "UnknownAdapterError",
    "adapter_for",
    "adapter_names",
    "hook_command",
    "register_adapter",
]
