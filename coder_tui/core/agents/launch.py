"""Turn a profile into a concrete launch: argv, env and per-launch files.

Hooks are added for this launch only and never by editing the user's own CLI configuration;
how, is each CLI's own business: its adapter (``coder_tui/core/agents/adapters``) writes the
per-launch settings and says which arguments and environment carry them. This module fills in
the profile's placeholders, the session and approval flags, and asks the adapter for the rest.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coder_tui.core.agents.adapters import LaunchContext, hook_command
from coder_tui.core.agents.profile import AgentProfile

__all__ = ["LaunchSpec", "hook_command", "prepare_launch"]


@dataclass
class LaunchSpec:
    """Everything needed to start one agent, plus what the user should be told."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    events_file: Path
    session_id: str | None
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # per-launch files written for it
    approvals_skipped: bool = False  # the user or template asked for the skip-permission flag
    env_unset: list[str] = field(default_factory=list)  # removed from the inherited environment


def _fill(items: list[str], values: Mapping[str, str]) -> list[str]:
    out = []
    for item in items:
        for key, value in values.items():
            item = item.replace("{" + key + "}", value)
        out.append(item)
    return out


def prepare_launch(
    profile: AgentProfile,
    *,
    agent: str,
    cwd: Path,
    agent_dir: Path,
    session_id: str | None = None,
    resume: bool = False,
    first_prompt: str | None = None,
    skip_approval: bool = False,
    extra_args: list[str] | None = None,
    home: Path | None = None,
    env: dict[str, str] | None = None,
) -> LaunchSpec:
    """Build the launch and write its per-launch files under ``agent_dir``.

    ``skip_approval`` adds the CLI's skip-permission flag; callers pass it only when the user
    or the template asked explicitly. ``env``: the environment to start in, over this
    process's (the server's clients pass theirs); the profile's own env goes over it.
    """
    cwd = cwd.resolve()
    agent_dir.mkdir(parents=True, exist_ok=True)
    inherited = {**os.environ, **(env or {})}
    home = home or Path(inherited.get("HOME") or Path.home())
    events_file = agent_dir / "events.jsonl"
    if resume and not session_id:
        raise ValueError(f"cannot resume {agent}: no session id was recorded")
    if not resume and profile.session.new:
        session_id = session_id or str(uuid.uuid4())
    values = {
        "python": sys.executable,
        "agent": agent,
        "session_id": session_id or "",
        "prompt": first_prompt or "",
    }
    command = _fill(profile.command, values)
    args: list[str] = []
    if resume and profile.session.resume and profile.session.resume_is_subcommand:
        command += _fill(profile.session.resume, values)
    elif resume and profile.session.resume:
        args += _fill(profile.session.resume, values)
    elif profile.session.new:
        args += _fill(profile.session.new, values)
    args += _fill(profile.args, values)
    own_env = {key: _fill([value], values)[0] for key, value in profile.env.items()}
    spec = LaunchSpec(
        argv=[],
        env={**(env or {}), **own_env},
        cwd=cwd,
        events_file=events_file,
        session_id=session_id,
    )
    spec.env_unset = [name for name in profile.env_unset if name not in own_env]
    for name in spec.env_unset:
        spec.env.pop(name, None)
    removed = [name for name in spec.env_unset if name in inherited]
    if removed:
        spec.notes.append(
            f"{agent}: {', '.join(removed)} not passed to {profile.title or profile.name} "
            "(env_unset in its profile)"
        )
    adapter = profile.adapter
    launch: LaunchContext | None = None
    if adapter is not None:
        launch = LaunchContext(
            agent=agent,
            profile=profile,
            cwd=cwd,
            agent_dir=agent_dir,
            home=home,
            hook=hook_command(events_file, agent, profile.hooks),
            env=dict(spec.env),
        )
        installed = adapter.install(launch)
        args += installed.args
        spec.env.update(installed.env)
        spec.files += installed.files
        spec.notes += installed.notes
    if skip_approval:
        spec.approvals_skipped = True
        args += profile.skip_approval_args
        if profile.skip_approval_args:
            spec.notes.append(
                f"{agent}: approvals skipped ({' '.join(profile.skip_approval_args)})"
            )
    elif profile.ask_approval_args and (
        own := _chosen_flags(profile.ask_approval_args, args + (extra_args or []))
    ):
        spec.notes.append(
            f"{agent}: its profile or arguments choose the permission mode ({', '.join(own)}); "
            "coder-tui's asking mode is not added"
        )
    elif profile.ask_approval_args:
        # coder-tui is the approval authority: the CLI asks, the user or policy answers.
        args += profile.ask_approval_args
        spec.notes.append(
            f"{agent}: {profile.title or profile.name} asks before edits and commands "
            f"({' '.join(profile.ask_approval_args)}); answer in coder-tui, or choose a policy"
        )
        if adapter is not None and launch is not None:
            spec.notes += adapter.asking_notes(launch)
    args += extra_args or []
    if first_prompt and profile.first_prompt_args is not None:
        args += _fill(profile.first_prompt_args, values)
    spec.argv = command + args
    return spec


def _chosen_flags(ask_args: list[str], given: list[str]) -> list[str]:
    """The flags of ``ask_args`` that ``given`` already sets (a CLI may refuse a repeated one:
    Codex does), e.g. a user profile with its own ``--sandbox``."""
    flags = {arg for arg in ask_args if arg.startswith("-")}
    return [arg for arg in given if arg.split("=", 1)[0] in flags]
