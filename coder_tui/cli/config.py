"""``coder-tui config``: where config.yaml is, and every setting in effect (the file's values
over the defaults), with the key of every binding id.

The output is YAML itself, commented: any part of it can be copied into config.yaml.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import yaml

from coder_tui import paths
from coder_tui.cli.common import UsageError, fail, user_config
from coder_tui.core.config import UserConfig
from coder_tui.ui.bindings import BINDINGS, effective_keys


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="coder-tui config",
        description="Show where config.yaml is and the settings in effect (defaults merged "
        "with the file), as YAML.",
    )
    parser.parse_args(argv)
    path = paths.config_file()
    state = "exists" if path.exists() else "not there: every value below is the default"
    print(f"# config file: {path} ({state})")
    try:
        config = user_config()
    except UsageError as exc:
        return fail(str(exc))
    print(render(config))
    return 0


def _scalar(value: object) -> str:
    """``value`` as one YAML scalar, quoted only where YAML needs it ("1", "?")."""
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1_000)
    return text.removesuffix("\n...\n").strip()


def render(config: UserConfig) -> str:
    """The settings as commented YAML that loads back to the same values."""
    lines: list[str] = []
    if config.default_agents:
        lines.append(f"default_agents: {_scalar(config.default_agents)}")
    else:
        lines.append("default_agents: null  # a bare `coder-tui` opens your shell")
    if config.policies:
        lines.append("policies:  # under --policy; `all` is every agent")
        lines += [f"  {_scalar(name)}: {mode}" for name, mode in config.policies.items()]
    else:
        lines.append("policies: {}  # every agent asks, unless --policy says otherwise")
    lines.append("notifications:  # approvals, gates, crashes, run ends: bell, desktop, command")
    for name, value in config.notifications.model_dump().items():
        lines.append(f"  {name}: {_scalar(value)}")
    lines.append("keymap:  # binding id: key(s), in Textual's key names")
    keys = effective_keys(config.keymap)
    width = max(len(f"{spec.id}: {_scalar(keys[spec.id])}") for spec in BINDINGS)
    for spec in BINDINGS:
        entry = f"{spec.id}: {_scalar(keys[spec.id])}"
        note = spec.tooltip
        if spec.id in config.keymap and config.keymap[spec.id] != spec.key:
            note += f" (set in config.yaml; default {spec.key})"
        lines.append(f"  {entry:<{width}}  # {note}")
    return "\n".join(lines)
