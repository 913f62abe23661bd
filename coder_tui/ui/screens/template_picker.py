"""Choose a workflow template, see who would fill its roles, fill in its inputs, start it.

The picker only chooses: it dismisses with a ``PickResult`` (the template and its input
values) or ``None``; the app starts the run. Nothing the user can get wrong raises: a role no
launched agent can fill and a required input left empty are shown inline and keep the picker
open.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, ContentSwitcher, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from coder_tui.core.templates import (
    Category,
    InputError,
    Template,
    TemplateError,
    assign_roles,
    fill_roles,
    resolve_inputs,
)
from coder_tui.ui.bindings import textual_bindings

UNFILLABLE = "no launched agent can fill this role"
CATEGORY_ORDER = {category: index for index, category in enumerate(Category)}


@dataclass(frozen=True)
class PickResult:
    """What the user chose: the template and a value for each of its inputs."""

    template: Template
    inputs: dict[str, str]


def matches(template: Template, query: str) -> bool:
    """Every word of ``query`` occurs in the name, title, category or description (any case)."""
    haystack = " ".join(
        (template.name, template.title, str(template.category), template.description)
    ).casefold()
    return all(word in haystack for word in query.casefold().split())


def unwrap(text: str) -> str:
    """Paragraphs of ``text`` each on one line (YAML block text is wrapped by hand)."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def template_order(template: Template) -> tuple[int, str, str]:
    return CATEGORY_ORDER.get(template.category, len(CATEGORY_ORDER)), template.title, template.name


def _form_id(template: Template) -> str:
    return f"form-{template.name}"


class TemplatePicker(ModalScreen[PickResult | None]):
    """A searchable list of templates, the highlighted one's details and its inputs' form."""

    BINDINGS: ClassVar[list[BindingType]] = textual_bindings("picker")

    DEFAULT_CSS = """
    TemplatePicker { align: center middle; }
    TemplatePicker #picker {
        width: 90%;
        max-width: 150;
        height: 90%;
        border: round $primary;
        border-title-color: $accent;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    TemplatePicker #picker-filter { margin-bottom: 1; }
    TemplatePicker #picker-body { height: 1fr; }
    TemplatePicker #picker-list { width: 2fr; max-width: 44; height: 1fr; }
    TemplatePicker #picker-list > .option-list--option-disabled {
        color: $accent;
        text-style: bold;
    }
    TemplatePicker #picker-side { width: 3fr; height: 1fr; padding: 0 0 0 1; }
    TemplatePicker #picker-details-scroll { height: 1fr; }
    TemplatePicker #picker-details { height: auto; }
    TemplatePicker .picker-heading { margin-top: 1; color: $accent; text-style: bold; }
    TemplatePicker #picker-forms { height: auto; }
    TemplatePicker .picker-form { height: auto; }
    TemplatePicker .picker-field { height: auto; }
    TemplatePicker .picker-label { width: 18; padding: 1 1 0 0; }
    TemplatePicker .picker-field Input { width: 1fr; }
    TemplatePicker .picker-none { color: $text-muted; }
    TemplatePicker #picker-error { color: $error; height: auto; margin-top: 1; }
    TemplatePicker #picker-buttons { height: auto; margin-top: 1; }
    TemplatePicker #picker-buttons Button { margin-right: 2; }
    """

    def __init__(
        self,
        templates: Mapping[str, Template],
        agents: Mapping[str, str],
        *,
        selected: str | None = None,
    ) -> None:
        """``agents``: launched agent name -> profile name; ``selected``: a template name to
        highlight (its form gets the focus)."""
        super().__init__()
        self.templates = sorted(templates.values(), key=template_order)
        self.agents = dict(agents)
        self.preselected = selected if selected in templates else None
        self.fills = {t.name: fill_roles(t, self.agents) for t in self.templates}
        self.current: Template | None = None
        self._shown: list[Template] = []

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="picker") as picker:
            picker.border_title = "Start a workflow"
            yield Input(
                placeholder="Filter templates: name, title, category or description",
                id="picker-filter",
            )
            with Horizontal(id="picker-body"):
                yield OptionList(id="picker-list")
                with Vertical(id="picker-side"):
                    with VerticalScroll(id="picker-details-scroll"):
                        yield Static(id="picker-details")
                    yield Static("Inputs", classes="picker-heading")
                    with ContentSwitcher(id="picker-forms"):
                        for template in self.templates:
                            yield self._form(template)
                    yield Static(id="picker-error", markup=False)
                    with Horizontal(id="picker-buttons"):
                        yield Button("Start", variant="primary", id="picker-start")
                        yield Button("Cancel", id="picker-cancel")
        yield Footer()

    def _form(self, template: Template) -> Vertical:
        fields: list[Horizontal | Static] = []
        for spec in template.inputs:
            label = Content.assemble(
                (spec.name, "bold"), (" *", "bold $error") if spec.required else ""
            )
            field = Input(
                value=spec.default or "",
                placeholder=spec.description,
                name=spec.name,
                tooltip=spec.description or None,
            )
            fields.append(
                Horizontal(Static(label, classes="picker-label"), field, classes="picker-field")
            )
        if not fields:
            fields.append(Static("This template takes no inputs.", classes="picker-none"))
        return Vertical(*fields, id=_form_id(template), classes="picker-form")

    def on_mount(self) -> None:
        self._show_list("", keep=self.preselected)
        if self.preselected is not None and self.current is not None:
            self._focus_form()
        else:
            self.query_one("#picker-filter", Input).focus()

    # --- the list --------------------------------------------------------------------------

    def _show_list(self, query: str, *, keep: str | None) -> None:
        """List the templates matching ``query`` under their categories; highlight ``keep``
        when it is listed, else the first one."""
        option_list = self.query_one("#picker-list", OptionList)
        self._shown = [t for t in self.templates if matches(t, query)]
        options: list[Option] = []
        category: str | None = None
        for template in self._shown:
            if template.category != category:
                category = template.category
                options.append(Option(Content(str(category).upper()), disabled=True))
            options.append(Option(Content(template.title or template.name), id=template.name))
        option_list.clear_options()
        option_list.add_options(options)
        names = [t.name for t in self._shown]
        target = keep if keep in names else (names[0] if names else None)
        if target is None:
            self._show_template(None)
        else:
            option_list.highlighted = option_list.get_option_index(target)
            self._show_template(self._template(target))

    def select(self, name: str) -> None:
        """Highlight template ``name`` (clearing a filter that hides it) and focus its form."""
        if self._template(name) is None:
            return
        filter_input = self.query_one("#picker-filter", Input)
        if all(t.name != name for t in self._shown):
            with self.prevent(Input.Changed):
                filter_input.value = ""
            self._show_list("", keep=name)
        else:
            option_list = self.query_one("#picker-list", OptionList)
            option_list.highlighted = option_list.get_option_index(name)
            self._show_template(self._template(name))
        self._focus_form()

    def _template(self, name: str) -> Template | None:
        return next((t for t in self.templates if t.name == name), None)

    @on(Input.Changed, "#picker-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._show_list(event.value, keep=self.current.name if self.current else None)

    @on(OptionList.OptionHighlighted, "#picker-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        template = self._template(event.option.id) if event.option.id else None
        if template is not None and template is not self.current:
            self._show_template(template)

    @on(OptionList.OptionSelected, "#picker-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        template = self._template(event.option.id) if event.option.id else None
        if template is not None:
            self._show_template(template)
            self._focus_form()

    @on(Input.Submitted, "#picker-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.current is not None:
            self._focus_form()

    def on_key(self, event: Key) -> None:
        if event.key == "down" and self.focused is self.query_one("#picker-filter", Input):
            event.stop()
            self.query_one("#picker-list", OptionList).focus()

    # --- details and form ------------------------------------------------------------------

    def _show_template(self, template: Template | None) -> None:
        self.current = template
        self._say("")
        details = self.query_one("#picker-details", Static)
        forms = self.query_one("#picker-forms", ContentSwitcher)
        if template is None:
            details.update(Content.styled("No template matches the filter.", "$text-muted"))
            forms.current = None
            return
        details.update(self._details(template))
        forms.current = _form_id(template)

    def _say(self, problems: str) -> None:
        """Show what keeps the run from starting (nothing: hide the line)."""
        error = self.query_one("#picker-error", Static)
        error.update(problems)
        error.display = bool(problems)

    def _details(self, template: Template) -> Content:
        parts: list[Content | str | tuple[str, str]] = [
            (template.title or template.name, "bold"),
            "\n",
            (f"{template.name} · {template.category}", "$text-muted"),
        ]
        if template.description.strip():
            parts += ["\n\n", unwrap(template.description)]
        parts += ["\n\n", ("Roles", "bold $accent")]
        fills = self.fills[template.name]
        for role, spec in template.roles.items():
            parts += ["\n", (role, "bold")]
            if spec.description:
                parts += [("  " + spec.description, "$text-muted")]
            agent = fills.get(role)
            if agent is None:
                wanted = ", ".join([*spec.prefer, *spec.fallback])
                parts += ["\n  ", (f"✕ {UNFILLABLE}", "bold $error"), (f" (wants {wanted})", "")]
            else:
                parts += ["\n  → ", (agent, "bold $success"), f" ({self.agents[agent]})"]
        return Content.assemble(*parts)

    def _inputs(self) -> list[Input]:
        if self.current is None:
            return []
        return list(self.query_one(f"#{_form_id(self.current)}").query(Input))

    def _focus_form(self) -> None:
        inputs = self._inputs()
        if inputs:
            inputs[0].focus()
        else:
            self.query_one("#picker-start", Button).focus()

    @on(Input.Changed, ".picker-form Input")
    def _field_changed(self, event: Input.Changed) -> None:
        event.input.remove_class("-invalid")

    @on(Input.Submitted, ".picker-form Input")
    def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = self._inputs()
        if event.input in inputs and event.input is not inputs[-1]:
            inputs[inputs.index(event.input) + 1].focus()
        else:
            self.action_start()

    # --- start / cancel --------------------------------------------------------------------

    @on(Button.Pressed, "#picker-start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#picker-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_start(self) -> None:
        """Check the choice; dismiss with it, or say inline what is missing."""
        template = self.current
        if template is None:
            self._say("Choose a template first.")
            return
        problems: list[str] = []
        unfilled = [role for role, agent in self.fills[template.name].items() if agent is None]
        if unfilled:
            launched = ", ".join(self.agents) or "none"
            problems.append(
                f"No launched agent can fill the role{'s' if len(unfilled) > 1 else ''} "
                f"{', '.join(unfilled)} (launched: {launched})."
            )
        else:
            try:
                assign_roles(template, self.agents)
            except TemplateError as exc:
                problems.append(str(exc))
        fields = {field.name: field for field in self._inputs() if field.name is not None}
        values: dict[str, str] = {}
        missing: list[Input] = []
        try:
            values = resolve_inputs(template, {name: field.value for name, field in fields.items()})
        except InputError as exc:
            for spec in exc.missing:
                problems.append(f"{spec.name} is required.")
                if spec.name in fields:
                    fields[spec.name].add_class("-invalid")
                    missing.append(fields[spec.name])
            if exc.unknown:  # the form is built from the template's inputs: not expected
                problems.append(str(exc))
        if problems:
            self._say("\n".join(problems))
            if missing:
                missing[0].focus()
            return
        self._say("")
        self.dismiss(PickResult(template, values))
