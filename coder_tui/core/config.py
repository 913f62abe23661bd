"""The user's settings: ``config.yaml`` in the config folder (``coder-tui config`` shows them).

A hand-written file, so it is validated like profiles and templates: an unknown key or a wrong
value is an error naming file, line and field, never silently ignored. A missing file means
the defaults, which are exactly coder-tui's behaviour without a config. This module imports
no Textual: the binding ids a keymap may name are checked by the caller that knows them
(``load_config(check_keymap=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from coder_tui import paths
from coder_tui.core.agents.events import ApprovalPolicy
from coder_tui.core.agents.names import agent_name_problem
from coder_tui.core.yamlfile import Issue, load_yaml_model

ALL_AGENTS = "all"  # a policies key: every agent of the session (like --policy all=MODE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _number_as_key(value: object) -> object:
    """``pane.go.1: 1`` in YAML is the number 1; it means the key "1"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _clean_keys(value: str) -> str:
    """A key, or keys separated by commas, in Textual's spelling ("r", "ctrl+r", "f5,ctrl+r")."""
    keys = [key.strip() for key in value.split(",")]
    if not all(keys) or any(" " in key for key in keys):
        raise PydanticCustomError(
            "key_string", "expected a key like 'r', 'ctrl+r' or 'f5', or keys like 'f5,ctrl+r'"
        )
    return ",".join(keys)


KeyString = Annotated[str, BeforeValidator(_number_as_key), AfterValidator(_clean_keys)]


def _agent_list(value: object) -> object:
    """A YAML list of agents is the same as the comma-separated string; blank is no value."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        value = ",".join(item.strip() for item in value)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _agent_names(value: str | None) -> str | None:
    """Each agent's name follows the agent name rule (core/agents/names.py), so a mistake is
    reported at its line here, not when a session starts; the profiles are checked then."""
    for item in (part.strip() for part in (value or "").split(",")):
        name = item.partition("=")[0]
        problem = agent_name_problem(name) if item else None
        if problem is not None:
            raise PydanticCustomError("agent_name", "{problem}", {"problem": problem})
    return value


def _policy_target(value: str) -> str:
    """A policies key: ``all``, or a name an agent can have (else the entry never applies)."""
    problem = None if value == ALL_AGENTS else agent_name_problem(value)
    if problem is not None:
        raise PydanticCustomError(
            "agent_name", "'all' or an agent's name: {problem}", {"problem": problem}
        )
    return value


NotifyEvent = Literal["approval", "gate", "crash", "run-ended"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("approval", "gate", "crash", "run-ended")


class Notifications(_Strict):
    """What happens when an agent asks for approval, a gate waits, an agent crashes or a run
    ends. Attached clients ring their terminal; the server (once per event, attached or
    not) sends a desktop notification and runs ``command``."""

    events: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS))
    bell: bool = True  # attached TUIs: BEL, and OSC 9 / OSC 777 for terminals that show them
    desktop: bool = True  # notify-send, when there is one and a desktop session to show it
    # Run for each event, e.g. ["ntfy", "publish", "mytopic"]: the event's text is the last
    # argument, and CODER_TUI_EVENT / CODER_TUI_SESSION / CODER_TUI_TEXT are set.
    command: list[str] | None = None


class UserConfig(_Strict):
    """Everything ``config.yaml`` may hold; each default is what coder-tui does without it."""

    # Binding id -> key string: the key a binding moves to (``coder-tui config`` lists the ids).
    keymap: dict[str, KeyString] = Field(default_factory=dict)
    # The agents a bare ``coder-tui`` starts (no --agents, no --cmd), e.g. "claude,codex";
    # None keeps the default: one pane with the user's shell.
    default_agents: Annotated[
        str | None, BeforeValidator(_agent_list), AfterValidator(_agent_names)
    ] = None
    # Agent name, or "all" -> approval policy, under what --policy gives on the command line.
    policies: dict[Annotated[str, AfterValidator(_policy_target)], ApprovalPolicy] = Field(
        default_factory=dict
    )
    notifications: Notifications = Field(default_factory=Notifications)

    def policy_for(self, name: str) -> ApprovalPolicy | None:
        """The policy configured for agent ``name``: its own entry, else ``all``, else None."""
        return self.policies.get(name, self.policies.get(ALL_AGENTS))


KeymapCheck = Callable[[Mapping[str, str]], Iterable[tuple[str, str]]]


def load_config(path: Path | None = None, *, check_keymap: KeymapCheck | None = None) -> UserConfig:
    """The settings in ``path`` (the user's config.yaml by default); a missing file is the
    defaults. ``check_keymap`` returns (binding id, problem) pairs for the keymap, each
    reported at its line like any other mistake; ConfigError lists them all."""
    path = path if path is not None else paths.config_file()
    if not path.exists():
        return UserConfig()

    def check(config: UserConfig) -> list[Issue]:
        if check_keymap is None:
            return []
        return [(("keymap", name), problem) for name, problem in check_keymap(config.keymap)]

    return load_yaml_model(path, UserConfig, check=check)
