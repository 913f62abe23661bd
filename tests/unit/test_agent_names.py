"""Agent names: a name is a folder (runs/ID/agents/NAME), an @mention and a channel author, so
wherever an agent list comes from (--agents, config.yaml's default_agents, a run file) a name
that climbs out of the run folder or passes for the user, the operator or the system is
refused with the rule, before anything is written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coder_tui import paths
from coder_tui.core.agents.names import AGENT_NAME_RULE, agent_name_problem
from coder_tui.core.agents.profile import AgentProfile, load_profiles
from coder_tui.core.agents.team import AgentListError, parse_agent_list
from coder_tui.core.config import load_config
from coder_tui.core.runs import RunState, RunStore
from coder_tui.core.yamlfile import ConfigError

RESERVED = ("user", "operator", "system", "all")


@pytest.fixture(scope="module")
def profiles() -> dict[str, AgentProfile]:
    return load_profiles()


@pytest.mark.parametrize(
    "name", ["../../x", "..", ".", "a/b", "x\\y", "", "-x", "1st", "Rev", "a b", "a.b", "a" * 65]
)
def test_a_name_that_is_no_plain_word_is_refused(
    name: str, profiles: dict[str, AgentProfile]
) -> None:
    assert agent_name_problem(name) is not None
    if name:  # an empty NAME= is an empty item's mistake, checked the same way
        with pytest.raises(AgentListError) as caught:
            parse_agent_list(f"{name}=fake", profiles)
        assert AGENT_NAME_RULE in str(caught.value)
        assert repr(name) in str(caught.value)


@pytest.mark.parametrize("name", RESERVED)
def test_the_channels_own_authors_are_refused(name: str, profiles: dict[str, AgentProfile]) -> None:
    with pytest.raises(AgentListError) as caught:
        parse_agent_list(f"rev=fake,{name}=fake", profiles)
    message = str(caught.value)
    assert f"{name!r}" in message and "reserved" in message and AGENT_NAME_RULE in message


def test_a_profile_named_like_an_author_needs_another_agent_name(
    profiles: dict[str, AgentProfile],
) -> None:
    """``--agents user`` names the agent after the profile: the same rule applies to it."""
    own = {**profiles, "user": profiles["fake"].model_copy(update={"name": "user"})}
    with pytest.raises(AgentListError, match="reserved"):
        parse_agent_list("user", own)
    (request,) = parse_agent_list("me=user", own)
    assert (request.name, request.profile) == ("me", "user")


@pytest.mark.parametrize("name", ["rev", "fixer", "claude-2", "a_b", "x1", "a" * 64])
def test_plain_names_pass(name: str, profiles: dict[str, AgentProfile]) -> None:
    assert agent_name_problem(name) is None
    (request,) = parse_agent_list(f"{name}=fake", profiles)
    assert request.name == name


def test_names_after_profiles_still_number_themselves(profiles: dict[str, AgentProfile]) -> None:
    names = [r.name for r in parse_agent_list("fake,fake,rev=fake", profiles)]
    assert names == ["fake", "fake-2", "rev"]


def _config_problems(text: str) -> list[str]:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(problem) for problem in caught.value.problems]


def test_config_default_agents_and_policies_follow_the_rule() -> None:
    path = paths.config_file()
    (found,) = _config_problems("default_agents: 'rev=fake,../../x=fake'\n")
    assert found.startswith(f"{path}:1: default_agents:") and "'../../x'" in found
    assert AGENT_NAME_RULE in found
    (found,) = _config_problems("default_agents: [fake, system=fake]\n")
    assert "'system'" in found and "reserved" in found
    (found,) = _config_problems("policies:\n  operator: approve-all\n")
    assert found.startswith(f"{path}:2: policies.operator:") and "reserved" in found
    # "all" is a policies key of its own: every agent.
    config = load_config(
        _write(path, "default_agents: fake,rev=fake\npolicies: {all: ask, rev: approve-all}\n")
    )
    assert config.default_agents == "fake,rev=fake" and set(config.policies) == {"all", "rev"}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_store_keeps_agent_folders_inside_the_run(tmp_path: Path) -> None:
    """The last line of defence: whatever reached the store, no folder outside agents/."""
    store = RunStore.create(tmp_path / "runs", RunState(template="t"))
    for bad in ("", ".", "..", "../x", "a/b", "a\\b", "a\0b", "/abs"):
        with pytest.raises(ValueError, match="not an agent name"):
            store.agent_dir(bad)
    assert store.agent_dir("rev") == store.run_dir / "agents" / "rev"


def test_the_host_refuses_a_bad_name_from_any_front_end(
    tmp_path: Path, profiles: dict[str, AgentProfile]
) -> None:
    """A front end that builds requests itself gets the same rule, before a run folder."""
    from coder_tui.core.agents.names import AgentNameError
    from coder_tui.core.agents.team import AgentRequest
    from coder_tui.core.host import RunHost

    for name in ("../x", "system"):
        with pytest.raises(AgentNameError, match=re.escape(AGENT_NAME_RULE)):
            RunHost.new(tmp_path / "runs", tmp_path, [AgentRequest(name, "fake")], profiles)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists()
