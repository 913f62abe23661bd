"""coder-tui's own fake agent (``coder_tui/fake_agent``): its hooks are one command given by
``--hook-command``, and it speaks Claude Code's hook vocabulary (same event names and payload
fields), so its records normalize as Claude's do."""

from __future__ import annotations

import shlex

from coder_tui.core.agents.adapters.base import HookInstall, LaunchContext
from coder_tui.core.agents.adapters.claude import ClaudeAdapter
from coder_tui.core.agents.adapters.registry import register_adapter


class FakeAdapter(ClaudeAdapter):
    """The fake agent: Claude's hook payloads, its own way of installing them."""

    name = "fake"

    def install(self, launch: LaunchContext) -> HookInstall:
        return HookInstall(args=["--hook-command", shlex.join(launch.hook)])

    def asking_notes(self, launch: LaunchContext) -> list[str]:
        return []  # it reads no user settings


register_adapter(FakeAdapter())
