"""From a user's agent list (``claude,codex`` or ``reviewer=claude,fixer=codex``) to Agents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from coder_tui.core.agents.adapters import HookEventKind, UnknownAdapterError, adapter_for
from coder_tui.core.agents.agent import Agent
from coder_tui.core.agents.events import ApprovalPolicy
from coder_tui.core.agents.launch import prepare_launch
from coder_tui.core.agents.names import agent_name_problem, check_agent_name
from coder_tui.core.agents.profile import AgentProfile


class AgentListError(ValueError):
    """The agent list names something that does not exist; the message lists what does."""


@dataclass(frozen=True)
class AgentRequest:
    name: str
    profile: str
    policy: ApprovalPolicy = ApprovalPolicy.ASK
    skip_approval: bool = False


def parse_agent_list(text: str, profiles: dict[str, AgentProfile]) -> list[AgentRequest]:
    """``claude,codex`` names agents after their profile (``claude-2`` for a second one);
    ``name=profile`` names them yourself. Every name, given or derived, follows the agent
    name rule (``names.py``): the list is user input, and a name becomes a folder and an
    author in the channel."""
    requests: list[AgentRequest] = []
    used: set[str] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, profile = item.partition("=")
        named = bool(profile)
        if not named:
            profile = name
            n = 2
            while name in used:
                name = f"{profile}-{n}"
                n += 1
        if profile not in profiles:
            known = ", ".join(sorted(profiles))
            raise AgentListError(f"unknown agent profile {profile!r} (known: {known})")
        problem = agent_name_problem(name)
        if problem is not None:
            hint = "" if named else f"; name it yourself: NAME={profile}"
            raise AgentListError(problem + hint)
        if name in used:
            raise AgentListError(f"two agents are named {name!r}; name them with NAME=PROFILE")
        used.add(name)
        requests.append(AgentRequest(name=name, profile=profile))
    if not requests:
        raise AgentListError("the agent list is empty")
    return requests


def create_agent(
    request: AgentRequest,
    profiles: dict[str, AgentProfile],
    *,
    cwd: Path,
    run_dir: Path,
    agent_dir: Path | None = None,
    first_prompt: str | None = None,
    extra_args: list[str] | None = None,
    session_id: str | None = None,
    resume: bool = False,
    env: dict[str, str] | None = None,
) -> tuple[Agent, list[str]]:
    """The Agent (not started) and the notes its launch produced for the user. With
    ``resume`` the CLI is relaunched on its recorded ``session_id`` (its own resume flags).
    Its files go to ``agent_dir`` (default: the run's agents/NAME)."""
    check_agent_name(request.name)  # whoever built the request, the rule holds
    profile = profiles[request.profile]
    agent_dir = agent_dir or run_dir / "agents" / request.name
    if resume and profile.adapter is not None and not had_prompt(agent_dir / "events.jsonl"):
        # A CLI keeps a session only once it had a prompt; resuming an empty one fails, so
        # such an agent starts afresh.
        resume, session_id = False, None
    spec = prepare_launch(
        profile,
        agent=request.name,
        cwd=cwd,
        agent_dir=agent_dir,
        first_prompt=first_prompt,
        skip_approval=request.skip_approval,
        extra_args=extra_args,
        session_id=session_id,
        resume=resume and session_id is not None,
        env=env,
    )
    return Agent(request.name, profile, spec, policy=request.policy), spec.notes


_TURN_EVIDENCE = (HookEventKind.PROMPT_ACCEPTED, HookEventKind.TURN_ENDED)


def had_prompt(events_file: Path) -> bool:
    """Whether the agent's hook events show it took a prompt (so its CLI saved a session).
    Each record is read by the adapter it names (its ``kind``), as the agent read it."""
    try:
        lines = events_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    for line in lines:
        try:
            record = json.loads(line)
            adapter = adapter_for(str(record.get("kind")))
        except (json.JSONDecodeError, AttributeError, UnknownAdapterError):
            continue
        event = adapter.normalize(record)
        if event is not None and event.kind in _TURN_EVIDENCE:
            return True
    return False
