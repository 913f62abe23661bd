"""What the subcommands share: the usage-error exit, loading templates, profiles and the user's
config.yaml as usage errors, the --policy/--skip-approvals rule, and showing a run host
headless or in the TUI.

Only the standard library and light core modules are imported at the top: the main parser
imports this module, and ``coder-tui --help`` should not pay for pydantic, Rich or Textual.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from coder_tui.core.agents.events import ApprovalPolicy
from coder_tui.core.safe_text import terminal_safe

if TYPE_CHECKING:
    from coder_tui.core.agents.profile import AgentProfile
    from coder_tui.core.agents.team import AgentRequest
    from coder_tui.core.config import UserConfig
    from coder_tui.core.host import RunHost
    from coder_tui.core.runs import RunState
    from coder_tui.core.templates import Template


class UsageError(Exception):
    """A mistake in what the user asked; exit code 2."""


def fail(message: str) -> int:
    """Say what went wrong on stderr; exit code 2. The message can quote a file or a run (a
    template's text, a run id typed by the user), so its control characters are escaped."""
    print(f"coder-tui: error: {terminal_safe(message)}", file=sys.stderr)
    return 2


def known_templates(project: Path | None = None) -> dict[str, Template]:
    """Every template by name; a broken file is a usage error naming file, line and field."""
    from coder_tui.core.templates import load_templates
    from coder_tui.core.yamlfile import ConfigError

    try:
        return load_templates(project)
    except ConfigError as exc:
        raise UsageError(f"broken template file:\n{exc}") from None


def known_profiles(project: Path | None = None) -> dict[str, AgentProfile]:
    """Every agent profile by name; a broken file is a usage error naming file, line, field."""
    from coder_tui.core.agents.profile import load_profiles
    from coder_tui.core.yamlfile import ConfigError

    try:
        return load_profiles(project)
    except ConfigError as exc:
        raise UsageError(f"broken agent profile:\n{exc}") from None


def user_config() -> UserConfig:
    """The user's config.yaml (defaults when there is none). A mistake in it, a keymap entry
    naming no binding among them, is a usage error naming file, line and field."""
    from coder_tui.core.config import load_config
    from coder_tui.core.yamlfile import ConfigError
    from coder_tui.ui.bindings import keymap_issues

    try:
        return load_config(check_keymap=keymap_issues)
    except ConfigError as exc:
        raise UsageError(f"broken config file:\n{exc}") from None


def apply_agent_options(
    requests: list[AgentRequest],
    policies: Sequence[str],
    skips: Sequence[str],
    config: UserConfig | None = None,
) -> list[AgentRequest]:
    """--policy NAME=MODE (NAME ``all``: every agent; later ones win) and --skip-approvals.
    ``config``'s policies come first (an agent's own entry over ``all``): --policy overrides
    them, and an entry for an agent the session does not have is no mistake."""
    names = {r.name for r in requests}
    chosen: dict[str, ApprovalPolicy] = {}
    if config is not None:
        for name in names:
            configured = config.policy_for(name)
            if configured is not None:
                chosen[name] = configured
    for item in policies:
        name, _, mode = item.partition("=")
        targets = names if name == "all" else {name}
        if not targets <= names:
            raise UsageError(f"--policy {item}: no agent named {name!r}")
        try:
            for target in targets:
                chosen[target] = ApprovalPolicy(mode)
        except ValueError:
            modes = ", ".join(p.value for p in ApprovalPolicy)
            raise UsageError(f"--policy {item}: mode must be one of {modes}") from None
    for name in skips:
        if name not in names:
            raise UsageError(f"--skip-approvals {name}: no agent named {name!r}")
    return [
        replace(r, policy=chosen.get(r.name, r.policy), skip_approval=r.name in skips)
        for r in requests
    ]


def gates_mode(args: argparse.Namespace) -> str:
    """What a headless run does at a human gate: --approve-gates, --reject-gates, or fail."""
    return "approve" if args.approve_gates else "reject" if args.reject_gates else "fail"


def launch(
    host: RunHost,
    *,
    headless: bool,
    gates: str = "fail",
    resume: bool = False,
    keymap: Mapping[str, str] | None = None,
) -> int:
    """Show the host's session headless or in the TUI (with the user's ``keymap``); the exit
    code says how its run ended (0: succeeded, or a session without a template closed
    normally)."""
    if headless:
        import asyncio

        from rich.console import Console

        from coder_tui.headless import HeadlessOptions, inert_text, run_headless

        console = Console(highlight=False)
        console.print(inert_text(f"run {host.state.run_id} in {host.store.run_dir}"))
        return asyncio.run(
            run_headless(host, console=console, options=HeadlessOptions(gates), resume=resume)
        )
    from coder_tui.ui import prepare_textual_environment

    prepare_textual_environment()
    from coder_tui.ui.app import CoderTuiApp

    app = CoderTuiApp(host=host, cwd=Path(host.state.cwd), keymap=keymap)
    try:
        app.run()
    finally:
        app.kill_sessions_now()
    outcome = finished(host.store.state)
    return app.return_code or outcome


def finished(state: RunState) -> int:
    """After the TUI closed: say how to go on with a run left mid-way; the exit code."""
    from coder_tui.core.runs import ACTIVE, RunStatus

    if state.status in ACTIVE:
        run_id = state.run_id
        what = "run" if state.template else "session"
        print(f"{what} {run_id} is not finished; go on with: coder-tui resume {run_id}")
        return 0 if not state.template else 1
    return 0 if state.status is RunStatus.SUCCEEDED or not state.template else 1
