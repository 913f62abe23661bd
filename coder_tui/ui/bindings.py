"""Every key binding of the TUI, as plain data: id, default key, action and what it does.

The screens' Textual ``Binding`` objects are built from this table, and ``coder-tui --help``
and ``coder-tui config`` print their keys from it, so the help cannot drift from the app. The
ids are what ``keymap`` in config.yaml remaps (Textual's own keymap support applies it). The
module imports no Textual at import time: ``--help`` must stay fast.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from textual.binding import BindingType

Scope = Literal["app", "panes", "picker", "channel", "say", "quit"]
KEY_COLUMN = 19  # --help: a wider key list gets a line of its own

# Where each scope's keys work, in the order --help lists them.
SCOPES: dict[Scope, str] = {
    "app": "anywhere (in a pane too)",
    "panes": "navigating (after ctrl+], no pane has the keys)",
    "picker": "in the template picker",
    "channel": "on a channel message",
    "say": "in the channel's input line (after c)",
    "quit": "in the quit dialog",
}


@dataclass(frozen=True)
class BindingSpec:
    """One binding. ``description`` labels it in the footer and the command palette ("" keeps
    it out of the palette); ``tooltip`` says what it does (footer tooltip, palette help,
    --help, ``coder-tui config``)."""

    id: str
    key: str  # Textual's spelling; several keys separated by commas
    action: str
    description: str
    tooltip: str
    scope: Scope
    show: bool = True
    key_display: str | None = None  # the footer's label for the default key
    priority: bool = False


def _pane_keys() -> list[BindingSpec]:
    """1-9 enter the numbered pane: the footer shows one entry for all nine."""
    specs = [
        BindingSpec(
            "pane.go.1",
            "1",
            "enter_pane(0)",
            "Go to pane",
            "Enter pane 1",
            "panes",
            key_display="1-9",
        )
    ]
    specs += [
        BindingSpec(
            f"pane.go.{n}",
            str(n),
            f"enter_pane({n - 1})",
            "",
            f"Enter pane {n}",
            "panes",
            show=False,
        )
        for n in range(2, 10)
    ]
    return specs


BINDINGS: tuple[BindingSpec, ...] = (
    # The app's: priority, so they work while a pane has every other key.
    BindingSpec(
        "pane.leave",
        "ctrl+right_square_bracket",
        "leave_pane",
        "Leave pane",
        "Leave the focused pane or the channel's input line",
        "app",
        key_display="^]",
        priority=True,
    ),
    BindingSpec(
        "app.quit_anywhere",
        "ctrl+q",
        "quit",
        "Quit",
        "Quit, from a pane too",
        "app",
        show=False,
        key_display="^q",
        priority=True,
    ),
    # The panes screen's, while no pane has the keys.
    BindingSpec(
        "pane.next",
        "right,down,tab",
        "select(1)",
        "Next pane",
        "Select the next pane",
        "panes",
        show=False,
    ),
    BindingSpec(
        "pane.previous",
        "left,up,shift+tab",
        "select(-1)",
        "Previous pane",
        "Select the previous pane",
        "panes",
        show=False,
    ),
    BindingSpec(
        "pane.enter",
        "enter,i",
        "enter_pane",
        "Enter pane",
        "Give the keys to the selected pane",
        "panes",
    ),
    *_pane_keys(),
    BindingSpec(
        "pane.maximize",
        "m,z",
        "toggle_maximize",
        "Maximise",
        "Maximise the pane, or restore the grid",
        "panes",
    ),
    BindingSpec(
        "agent.approve",
        "a",
        "approve",
        "Approve",
        "Approve the agent's permission prompt",
        "panes",
    ),
    BindingSpec(
        "agent.approve_always",
        "A",
        "approve(True)",
        "Approve always",
        "Approve, and don't ask again (if offered)",
        "panes",
        show=False,
    ),
    BindingSpec("agent.deny", "d", "deny", "Deny", "Deny the agent's permission prompt", "panes"),
    BindingSpec(
        "agent.policy",
        "o",
        "cycle_policy",
        "Policy",
        "Cycle the agent's approval policy",
        "panes",
    ),
    BindingSpec(
        "agent.restart", "r", "restart", "Restart", "Restart the agent in a new session", "panes"
    ),
    BindingSpec(
        "channel.focus",
        "c",
        "focus_channel",
        "Channel",
        "Type in the channel; @agent: to one agent",
        "panes",
    ),
    BindingSpec(
        "run.pause",
        "p",
        "app.toggle_pause",
        "Pause/resume",
        "Pause or resume the workflow",
        "panes",
    ),
    BindingSpec("run.step", "n", "app.step_once", "One step", "Run one step while paused", "panes"),
    BindingSpec(
        "run.gate_approve",
        "g",
        "app.answer_gate(True)",
        "Gate: approve",
        "Approve the workflow's waiting gate",
        "panes",
    ),
    BindingSpec(
        "run.gate_reject",
        "G",
        "app.answer_gate(False)",
        "Gate: reject",
        "Reject the workflow's waiting gate",
        "panes",
    ),
    BindingSpec(
        "run.cancel", "x", "app.cancel_run", "Cancel run", "Cancel the workflow run", "panes"
    ),
    BindingSpec(
        "run.pick_template",
        "t",
        "pick_template",
        "Templates",
        "Choose a workflow template and start it",
        "panes",
    ),
    BindingSpec(
        "app.detach",
        "D",
        "detach",
        "Detach",
        "Detach: the agents keep running in the server (coder-tui attach shows them again)",
        "panes",
    ),
    BindingSpec(
        "app.quit", "q", "quit_app", "Quit", "Quit: detach, or stop the agents (it asks)", "panes"
    ),
    # The quit dialog's (the server outlives the window: leave it running, or stop it).
    BindingSpec(
        "quit.detach", "d", "choose('detach')", "Detach", "Leave; the agents keep working", "quit"
    ),
    BindingSpec(
        "quit.stop", "s", "choose('stop')", "Stop agents", "Stop this session's agents", "quit"
    ),
    BindingSpec("quit.cancel", "escape", "choose('')", "Cancel", "Stay", "quit"),
    # The template picker's.
    BindingSpec(
        "picker.cancel", "escape", "cancel", "Cancel", "Close the picker, start nothing", "picker"
    ),
    BindingSpec(
        "picker.start",
        "ctrl+s",
        "start",
        "Start",
        "Start the template with these inputs",
        "picker",
        key_display="^s",
    ),
    # The channel's input line's: printable keys are text there, so this is the way out
    # (besides pane.leave, which works anywhere).
    BindingSpec(
        "channel.leave",
        "escape",
        "leave",
        "Leave channel",
        "Leave the channel's input line, back to navigation (the text is kept)",
        "say",
        key_display="esc",
    ),
    # A focused channel message's.
    BindingSpec(
        "channel.fold",
        "enter,space",
        "toggle_fold",
        "Expand / fold",
        "Expand a long message, or fold it again",
        "channel",
        show=False,
    ),
)

BY_ID: dict[str, BindingSpec] = {spec.id: spec for spec in BINDINGS}
BINDING_IDS: tuple[str, ...] = tuple(BY_ID)


class KeymapError(ValueError):
    """A keymap names a binding that does not exist, or gives two bindings one key."""


# Textual's names for characters whose Unicode name is obscure (textual.keys).
_NAME_REPLACEMENTS = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}
_REPLACED = {value: key for key, value in _NAME_REPLACEMENTS.items()}


def _normal_key(key: str) -> str:
    """One key in the spelling Textual reports: "ctrl+]" -> "ctrl+right_square_bracket".
    (Textual's keymap only renames a key that is a single character, so "ctrl+]" as given
    would never match a key press.)"""
    modifiers, plus, last = key.rpartition("+")
    if len(last) == 1 and not last.isalnum():
        try:
            name = unicodedata.name(last).lower().replace("-", "_").replace(" ", "_")
        except ValueError:
            name = last
        last = _NAME_REPLACEMENTS.get(name, name)
    return f"{modifiers}{plus}{last}"


def normalize_keys(keys: str) -> str:
    """A comma-separated key string in Textual's spelling, each key normalised."""
    return ",".join(_normal_key(key.strip()) for key in keys.split(","))


def effective_keys(keymap: Mapping[str, str]) -> dict[str, str]:
    """Binding id -> its key string: the keymap's where it names one, else the default."""
    return {spec.id: keymap.get(spec.id, spec.key) for spec in BINDINGS}


def textual_keymap(keymap: Mapping[str, str]) -> dict[str, str]:
    """The keymap as ``App.set_keymap`` takes it: every key in Textual's spelling."""
    return {name: normalize_keys(keys) for name, keys in keymap.items()}


def keymap_issues(keymap: Mapping[str, str]) -> list[tuple[str, str]]:
    """(binding id, problem) for each entry of ``keymap`` that names no binding or takes a key
    another binding keeps in the same place. The app's keys (priority) are taken everywhere;
    the panes', the picker's and a channel message's only clash among themselves."""
    issues: list[tuple[str, str]] = []
    keys = {
        name: set(normalize_keys(value).split(","))
        for name, value in effective_keys(keymap).items()
    }
    for name in keymap:
        spec = BY_ID.get(name)
        if spec is None:
            issues.append((name, f"unknown binding id (known ids: {', '.join(BINDING_IDS)})"))
            continue
        for other in BINDINGS:
            if other.id == name or not _share_keys(spec.scope, other.scope):
                continue
            taken = ", ".join(
                _key_text(k, caret=False) for k in sorted(keys[name] & keys[other.id])
            )
            if taken:
                what = other.description or other.tooltip
                issues.append(
                    (
                        name,
                        f"key {taken} is already {other.id}'s ({what}); "
                        f"give {other.id} another key too",
                    )
                )
    return issues


def _share_keys(one: Scope, other: Scope) -> bool:
    return one == other or "app" in (one, other)


def check_keymap(keymap: Mapping[str, str]) -> None:
    """Raise KeymapError listing every problem of ``keymap`` (see ``keymap_issues``)."""
    issues = keymap_issues(keymap)
    if issues:
        raise KeymapError("\n".join(f"keymap: {name}: {problem}" for name, problem in issues))


def textual_bindings(scope: Scope) -> list[BindingType]:
    """The scope's Textual bindings, each with its id and tooltip (Textual imported here)."""
    from textual.binding import Binding

    return [
        Binding(
            spec.key,
            spec.action,
            spec.description,
            show=spec.show,
            key_display=spec.key_display,
            priority=spec.priority,
            tooltip=spec.tooltip,
            id=spec.id,
        )
        for spec in BINDINGS
        if spec.scope == scope
    ]


# --- how keys are shown ------------------------------------------------------------------------


def _key_text(key: str, *, caret: bool) -> str:
    """A key for people: "ctrl+right_square_bracket" -> "ctrl+]" (or "^]" with ``caret``,
    as Textual's footer writes it)."""
    *modifiers, last = key.split("+")
    name = _REPLACED.get(last, last)
    if len(name) > 1:
        try:
            character = unicodedata.lookup(name.replace("_", " ").upper())
        except KeyError:
            pass
        else:
            if character.isprintable() and not character.isspace():
                name = character
    if caret and "ctrl" in modifiers:
        modifiers.remove("ctrl")
        name = f"^{name}"
    return "+".join([*modifiers, name])


def key_label(binding_id: str, keymap: Mapping[str, str]) -> str:
    """The binding's first key as the footer shows it ("^]", "a"), for hints in the UI."""
    spec = BY_ID[binding_id]
    if binding_id not in keymap and spec.key_display:
        return spec.key_display
    first = normalize_keys(keymap.get(binding_id, spec.key)).split(",")[0]
    return _key_text(first, caret=True)


def keys_text(binding_id: str, keymap: Mapping[str, str]) -> str:
    """All of the binding's keys for --help: "right, down, tab", "ctrl+]"."""
    keys = normalize_keys(effective_keys(keymap)[binding_id]).split(",")
    return ", ".join(_key_text(key, caret=False) for key in keys)


def keys_help(keymap: Mapping[str, str]) -> str:
    """The --help epilog: every key, where it works, its id and what it does."""
    sections: list[tuple[str, list[tuple[str, str, str]]]] = []
    for scope, where in SCOPES.items():
        rows: list[tuple[str, str, str]] = []
        for spec in BINDINGS:
            if spec.scope != scope or (spec.id.startswith("pane.go.") and spec.id != "pane.go.1"):
                continue
            if spec.id == "pane.go.1":
                rows.append((_pane_numbers(keymap), "pane.go.N", "Enter pane N"))
            else:
                rows.append((keys_text(spec.id, keymap), spec.id, spec.tooltip))
        sections.append((where, rows))
    every = [row for _, rows in sections for row in rows]
    key_width = min(KEY_COLUMN, max(len(keys) for keys, _, _ in every))
    id_width = max(len(name) for _, name, _ in every)
    lines = ["Keys (config.yaml's keymap moves a key by its id; `coder-tui config` lists them):"]
    for where, rows in sections:
        lines.append(f"{where}:")
        for keys, name, text in rows:
            if len(keys) > key_width:  # a long list of keys gets a line of its own
                lines.append(f"  {keys}")
                keys = ""
            lines.append(f"  {keys:<{key_width}}  {name:<{id_width}}  {text}")
    return "\n".join(lines)


def _pane_numbers(keymap: Mapping[str, str]) -> str:
    """1-9 while those are the keys; else each pane's key, in pane order."""
    ids = [f"pane.go.{n}" for n in range(1, 10)]
    if not any(name in keymap for name in ids):
        return "1-9"
    return " ".join(keys_text(name, keymap) for name in ids)
