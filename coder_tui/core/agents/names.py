"""What an agent may be called. A name becomes a folder (``runs/ID/agents/NAME``), an
``@mention`` and a channel author, so it is a plain word, like a profile's name, and none of
the authors that are not agents: a name with ``/`` or ``..`` would write outside the run
folder, and an agent called ``user`` would post as the user."""

from __future__ import annotations

import re

from coder_tui.core.channel import CHANNEL_AUTHORS

# As profile and role names (profile.py, templates/model.py), and short enough for a folder.
AGENT_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# "all" is no author, but --policy all=MODE and config.yaml's policies use it for every agent.
RESERVED_NAMES = CHANNEL_AUTHORS | {"all"}
AGENT_NAME_RULE = (
    "an agent name is a lowercase letter, then up to 63 lowercase letters, digits, '-' or '_', "
    f"and none of {', '.join(sorted(RESERVED_NAMES))}"
)


class AgentNameError(ValueError):
    """A name breaks the rule; the message names it and states the rule."""


def agent_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an agent, with the rule; None when it can."""
    if name in RESERVED_NAMES:
        return f"agent name {name!r} is reserved ({AGENT_NAME_RULE})"
    if AGENT_NAME_PATTERN.fullmatch(name) is None:
        return f"agent name {name!r} is not allowed ({AGENT_NAME_RULE})"
    return None


def check_agent_name(name: str) -> str:
    """``name`` when it may name an agent; else AgentNameError saying why."""
    problem = agent_name_problem(name)
    if problem is not None:
        raise AgentNameError(problem)
    return name
