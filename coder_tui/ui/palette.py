"""The command palette's own commands: every key's action, and "Run template: ..." per template.

Actions come from the bindings active on the screen the palette was opened over (its own and
the app's, as the footer would show them, hidden ones included), each with its key. Running one
is the same as pressing its key. A template command opens the template picker with that
template chosen.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.dom import DOMNode
from textual.markup import escape
from textual.screen import Screen
from textual.style import Style

from coder_tui import paths
from coder_tui.core.templates import Template, load_templates
from coder_tui.core.yamlfile import ConfigError
from coder_tui.ui.screens.template_picker import TemplatePicker, template_order, unwrap

TEMPLATE_PREFIX = "Run template: "
_SKIPPED_ACTIONS = {"command_palette", "app.command_palette"}


@runtime_checkable
class TemplateHost(Protocol):
    """A screen that can open the template picker (the panes screen)."""

    def action_pick_template(self, name: str = "") -> None: ...


@dataclass
class ActionCommand:
    """One action of the active bindings, with every key bound to it."""

    description: str
    keys: list[str]
    action: str
    namespace: DOMNode
    tooltip: str

    @property
    def text(self) -> str:
        return f"{self.description} ({' '.join(self.keys)})"


class CoderTuiCommands(Provider):
    """Key actions and workflow templates, for ``CoderTuiApp.COMMANDS``."""

    def __init__(self, screen: Screen[Any], match_style: Style | None = None) -> None:
        super().__init__(screen, match_style)
        self._templates: list[Template] = []

    async def startup(self) -> None:
        if isinstance(self.screen, (TemplateHost, TemplatePicker)):
            cwd = getattr(self.app, "cwd", None)
            try:
                templates = load_templates(
                    paths.project_dir(cwd if isinstance(cwd, Path) else None)
                )
            except ConfigError:
                templates = {}  # the picker reports broken files; the palette only lists
            self._templates = sorted(templates.values(), key=template_order)

    def action_commands(self) -> list[ActionCommand]:
        """The screen's enabled bindings grouped by action, in binding order."""
        app = self.app
        commands: dict[tuple[int, str], ActionCommand] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not active.enabled or not binding.description:
                continue
            if binding.action in _SKIPPED_ACTIONS:
                continue
            key = (id(active.node), binding.action)
            display = app.get_key_display(binding)
            command = commands.get(key)
            if command is None:
                commands[key] = ActionCommand(
                    binding.description,
                    [display],
                    binding.action,
                    active.node,
                    binding.tooltip,
                )
            elif display not in command.keys:
                command.keys.append(display)
        return list(commands.values())

    def _run_action(self, command: ActionCommand) -> Callable[[], Awaitable[bool]]:
        return partial(self.app.run_action, command.action, command.namespace)

    def _open_template(self, template: Template) -> None:
        screen = self.screen
        if isinstance(screen, TemplatePicker):
            screen.select(template.name)
        elif isinstance(screen, TemplateHost):
            # Called directly, not through run_action: the key is only for navigation mode,
            # the palette works from a pane too.
            screen.action_pick_template(template.name)

    @staticmethod
    def _template_help(template: Template) -> str:
        """Name, category and the description's first sentence."""
        description = unwrap(template.description).split("\n", 1)[0]
        sentence = re.split(r"(?<=[.!?])\s", description, maxsplit=1)[0]
        return escape(
            f"{template.name} · {template.category}" + (f" — {sentence}" if sentence else "")
        )

    async def discover(self) -> Hits:
        for command in self.action_commands():
            yield DiscoveryHit(
                Content(command.text),
                self._run_action(command),
                text=command.text,
                help=escape(command.tooltip) or None,
            )
        for template in self._templates:
            text = TEMPLATE_PREFIX + (template.title or template.name)
            yield DiscoveryHit(
                Content(text),
                partial(self._open_template, template),
                text=text,
                help=self._template_help(template),
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.action_commands():
            score = matcher.match(command.text)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.text),
                    self._run_action(command),
                    text=command.text,
                    help=escape(command.tooltip) or None,
                )
        for template in self._templates:
            text = TEMPLATE_PREFIX + (template.title or template.name)
            score = max(matcher.match(text), matcher.match(f"{TEMPLATE_PREFIX}{template.name}"))
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(self._open_template, template),
                    text=text,
                    help=self._template_help(template),
                )
