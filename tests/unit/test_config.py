"""config.yaml: the model, its located errors (file:line: field), the keymap's binding ids,
and how its policies and default agents combine with the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from coder_tui import paths
from coder_tui.cli.common import UsageError, apply_agent_options, user_config
from coder_tui.core.agents.events import ApprovalPolicy
from coder_tui.core.agents.team import AgentRequest
from coder_tui.core.config import Notifications, UserConfig, load_config
from coder_tui.core.yamlfile import ConfigError
from coder_tui.ui.bindings import (
    BINDING_IDS,
    BINDINGS,
    KeymapError,
    check_keymap,
    key_label,
    keymap_issues,
    keys_help,
    normalize_keys,
)


def write(text: str) -> Path:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems(text: str) -> list[str]:
    path = write(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_keymap=keymap_issues)
    return [str(problem) for problem in caught.value.problems]


def test_a_missing_file_is_the_defaults() -> None:
    assert not paths.config_file().exists()
    config = load_config()
    assert config == UserConfig()
    assert config.keymap == {} and config.default_agents is None and config.policies == {}
    assert config.notifications == Notifications(
        events=["approval", "gate", "crash", "run-ended"], bell=True, desktop=True, command=None
    )
    assert user_config() == UserConfig()


def test_an_empty_file_is_the_defaults() -> None:
    assert load_config(write("# nothing yet\n")) == UserConfig()


def test_every_field_is_read() -> None:
    path = write(
        "keymap:\n"
        "  agent.restart: R\n"
        "  pane.go.1: 1\n"  # a YAML number: the key "1"
        '  run.pick_template: "ctrl+t, f2"\n'
        "default_agents: [claude, codex]\n"
        "policies:\n"
        "  all: approve-edits\n"
        "  codex: ask\n"
        "notifications:\n"
        "  events: [approval, crash]\n"
        "  bell: false\n"
        "  command: [notify-me, --loud]\n"
    )
    config = load_config(path, check_keymap=keymap_issues)
    assert config.keymap == {
        "agent.restart": "R",
        "pane.go.1": "1",
        "run.pick_template": "ctrl+t,f2",
    }
    assert config.default_agents == "claude,codex"
    assert config.policies == {"all": ApprovalPolicy.APPROVE_EDITS, "codex": ApprovalPolicy.ASK}
    assert config.policy_for("codex") is ApprovalPolicy.ASK
    assert config.policy_for("claude") is ApprovalPolicy.APPROVE_EDITS
    assert config.notifications.events == ["approval", "crash"]
    assert config.notifications.bell is False and config.notifications.desktop is True
    assert config.notifications.command == ["notify-me", "--loud"]


def test_default_agents_as_a_string() -> None:
    assert load_config(write("default_agents: ' rev=claude,codex '\n")).default_agents == (
        "rev=claude,codex"
    )
    assert load_config(write("default_agents: ''\n")).default_agents is None


def test_a_broken_file_names_file_line_and_field() -> None:
    path = paths.config_file()
    found = problems(
        "policies:\n"
        "  all: approve-everything\n"
        "keymap:\n"
        '  pane.next: ""\n'
        "notifications:\n"
        "  beep: true\n"
        "colours: dark\n"
    )
    assert (
        f"{path}:2: policies.all: Input should be 'ask', 'approve-edits' or 'approve-all'" in found
    )
    assert any(p.startswith(f"{path}:4: keymap.pane.next: expected a key like") for p in found)
    assert f"{path}:6: notifications.beep: unknown field" in found
    assert f"{path}:7: colours: unknown field" in found


def test_a_yaml_mistake_names_its_line() -> None:
    (found,) = problems("keymap:\n  agent.restart: [R\n")
    assert found.startswith(f"{paths.config_file()}:3: YAML syntax:")


def test_an_unknown_binding_id_is_an_error_listing_the_known_ones() -> None:
    (found,) = problems("keymap:\n  agent.restart: R\n  agent.restrat: R\n")
    assert found.startswith(f"{paths.config_file()}:3: keymap.agent.restrat: unknown binding id")
    assert all(name in found for name in BINDING_IDS)


def test_a_key_two_bindings_would_share_is_an_error() -> None:
    (found,) = problems("keymap:\n  agent.restart: a\n")
    assert found == (
        f"{paths.config_file()}:2: keymap.agent.restart: key a is already agent.approve's "
        "(Approve); give agent.approve another key too"
    )
    # Swapping two keys is no clash; the app's keys (priority) are taken in every screen.
    assert keymap_issues({"agent.approve": "d", "agent.deny": "a"}) == []
    assert [name for name, _ in keymap_issues({"picker.cancel": "ctrl+q"})] == ["picker.cancel"]
    # "ctrl+]" is the same key as Textual's "ctrl+right_square_bracket".
    assert [name for name, _ in keymap_issues({"app.quit": "ctrl+]"})] == ["app.quit"]
    # A channel message's enter is not the panes screen's enter: the focused message wins.
    assert keymap_issues({}) == []


def test_user_config_is_a_usage_error_when_broken() -> None:
    write("keymap:\n  nope: x\n")
    with pytest.raises(UsageError, match=r"broken config file:\n.*config.yaml:2: keymap.nope"):
        user_config()


def test_check_keymap_raises_for_programmatic_keymaps() -> None:
    with pytest.raises(KeymapError, match="keymap: nope: unknown binding id"):
        check_keymap({"nope": "x"})
    check_keymap({"agent.restart": "R"})


# --- the binding table -----------------------------------------------------------------------


def test_binding_ids_are_unique_and_every_binding_says_what_it_does() -> None:
    assert len(BINDING_IDS) == len(BINDINGS)
    for spec in BINDINGS:
        assert spec.tooltip and spec.key and spec.action, spec


def test_every_screen_binding_has_an_id_and_a_tooltip_from_the_table() -> None:
    from textual.binding import Binding

    from coder_tui.ui.app import CoderTuiApp, PanesScreen
    from coder_tui.ui.screens.quit import QuitScreen
    from coder_tui.ui.screens.template_picker import TemplatePicker
    from coder_tui.ui.widgets.channel_view import MessageView, SayInput

    seen = []
    for owner in (CoderTuiApp, PanesScreen, TemplatePicker, QuitScreen, MessageView, SayInput):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding) and binding.id and binding.tooltip, binding
            seen.append(binding.id)
    assert sorted(seen) == sorted(BINDING_IDS)


def test_keys_are_normalised_like_textual_reports_them() -> None:
    assert normalize_keys("ctrl+], ?") == "ctrl+right_square_bracket,question_mark"
    assert normalize_keys("f5,R") == "f5,R"


def test_key_labels_follow_the_keymap() -> None:
    assert key_label("pane.leave", {}) == "^]"
    assert key_label("pane.leave", {"pane.leave": "ctrl+g"}) == "^g"
    assert key_label("run.cancel", {"run.cancel": "?"}) == "?"
    assert key_label("channel.fold", {}) == "enter"


def test_help_lists_every_binding_with_its_effective_key() -> None:
    default = keys_help({})
    for spec in BINDINGS:
        assert spec.id in default or spec.id.startswith("pane.go.")
    assert "pane.go.N" in default and "1-9" in default
    moved = keys_help({"agent.restart": "R", "pane.go.2": "f2"})
    (row,) = [line for line in moved.splitlines() if "agent.restart" in line]
    assert row.split()[0] == "R"
    assert "1 f2 3 4 5 6 7 8 9" in moved


# --- policies and default agents -------------------------------------------------------------


def test_config_policies_come_under_the_command_line() -> None:
    config = UserConfig.model_validate(
        {"policies": {"all": "approve-edits", "rev": "approve-all", "absent": "ask"}}
    )
    requests = [AgentRequest("rev", "claude"), AgentRequest("fix", "codex")]
    chosen = apply_agent_options(requests, [], [], config)
    assert [r.policy for r in chosen] == [ApprovalPolicy.APPROVE_ALL, ApprovalPolicy.APPROVE_EDITS]
    chosen = apply_agent_options(requests, ["fix=ask"], [], config)
    assert [r.policy for r in chosen] == [ApprovalPolicy.APPROVE_ALL, ApprovalPolicy.ASK]
    # Without a config (or with an empty one) nothing changes.
    assert apply_agent_options(requests, [], [], UserConfig()) == requests


def _args(agents: str = "", policy: list[str] | None = None) -> argparse.Namespace:
    return argparse.Namespace(agents=agents, policy=policy or [], skip_approvals=[])


def test_default_agents_only_without_agents_and_commands() -> None:
    from coder_tui.cli.tui import _agent_requests

    config = UserConfig.model_validate(
        {"default_agents": "fake,other=fake", "policies": {"other": "approve-all"}}
    )
    requests, profiles = _agent_requests(_args(), config, [])
    assert [(r.name, r.profile, r.policy) for r in requests] == [
        ("fake", "fake", ApprovalPolicy.ASK),
        ("other", "fake", ApprovalPolicy.APPROVE_ALL),
    ]
    assert "fake" in profiles
    assert _agent_requests(_args(), config, [["bash"]]) == ([], {})  # --cmd: just those
    requests, _ = _agent_requests(_args("solo=fake"), config, [])
    assert [r.name for r in requests] == ["solo"]
    assert _agent_requests(_args(), UserConfig(), []) == ([], {})  # the shell, as before


def test_broken_default_agents_names_the_config_file() -> None:
    from coder_tui.cli.tui import _agent_requests

    config = UserConfig.model_validate({"default_agents": "nosuch"})
    with pytest.raises(UsageError, match=r"config.yaml: default_agents: unknown agent profile"):
        _agent_requests(_args(), config, [])


def test_the_channel_inputs_leave_key_moves_and_clashes_only_with_the_apps_keys() -> None:
    """escape leaves the channel's input line; it may move, but not onto a key the app takes
    everywhere, and the picker's escape is no clash (another place)."""
    assert key_label("channel.leave", {}) == "esc"
    assert key_label("channel.leave", {"channel.leave": "ctrl+g"}) == "^g"
    assert keymap_issues({"channel.leave": "ctrl+g"}) == []
    assert keymap_issues({"picker.cancel": "escape"}) == []
    (issue,) = keymap_issues({"channel.leave": "ctrl+q"})
    assert issue[0] == "channel.leave" and "app.quit_anywhere" in issue[1]
