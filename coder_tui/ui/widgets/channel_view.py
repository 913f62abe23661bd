"""The channel pane: what the user, the agents and the operator said, in order, and a line to
say something: ``@agent text`` goes to that agent, anything else is guidance for the step."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.markdown import Markdown
from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.suggester import Suggester, SuggestFromList
from textual.widgets import Input, Static

from coder_tui.core.channel import ChannelMessage, MessageKind
from coder_tui.ui.bindings import key_label, textual_bindings

AUTHOR_STYLES = ["$primary", "$secondary", "$accent", "$success", "$warning"]
FIXED_STYLES = {"user": "bold $text", "operator": "italic $text-muted", "system": "bold $error"}
FOLD_LINES = 8


class MessageView(Vertical, can_focus=True):
    """One channel message: a header (time, author, target, step) and its text. Fenced code
    blocks are shown highlighted; a long message is folded until expanded (enter or click)."""

    BINDINGS: ClassVar[list[BindingType]] = textual_bindings("channel")

    DEFAULT_CSS = """
    MessageView { height: auto; padding: 0 0; }
    MessageView:focus { background: $boost; }
    MessageView.-prompt { color: $text-muted; }
    MessageView > .body { height: auto; }
    """

    def __init__(self, message: ChannelMessage, author_style: str) -> None:
        super().__init__()
        self.message = message
        self.author_style = author_style
        self.expanded = False
        self.set_class(message.kind is MessageKind.PROMPT, "-prompt")

    def compose(self) -> ComposeResult:
        yield Static(self._header(), classes="header")
        yield Static(self._body(), classes="body")

    @property
    def foldable(self) -> bool:
        return self.message.text.count("\n") + 1 > FOLD_LINES

    def _header(self) -> Content:
        message = self.message
        head: list[str | tuple[str, str]] = [
            (time.strftime("%H:%M:%S ", time.localtime(message.at)), "dim"),
            (message.author, f"bold {self.author_style}"),
        ]
        if message.targets:
            head.append((" → " + ", ".join(message.targets), "dim"))
        if message.step:
            where = f" [{message.step}" + (f" #{message.round}" if message.round else "") + "]"
            head.append((where, "dim"))
        return Content.assemble(*head)

    def _body(self) -> Content | Markdown:
        text = self.message.text
        hidden = 0
        if self.foldable and not self.expanded:
            lines = text.split("\n")
            text = "\n".join(lines[:FOLD_LINES])
            hidden = len(lines) - FOLD_LINES
            if text.count("```") % 2:
                text += "\n```"  # close a code block cut by the fold
        expand = key_label("channel.fold", getattr(self.app, "keymap", {}))
        fold_note = f"\n… {hidden} more lines ({expand} to expand)" if hidden else ""
        if "```" in text and self.message.kind is not MessageKind.PROMPT:
            return Markdown(
                text + (f"\n\n*{fold_note.strip()}*" if hidden else ""), code_theme="monokai"
            )
        return Content.assemble(text, (fold_note, "dim italic"))

    def action_toggle_fold(self) -> None:
        if self.foldable:
            self.expanded = not self.expanded
            self.query_one(".body", Static).update(self._body())

    def on_click(self, event: events.Click) -> None:
        self.action_toggle_fold()

    def render_text(self) -> str:
        """The message as plain text (for tests and copy)."""
        return "\n".join(str(s.render()) for s in self.query(Static))


class SayInput(Input):
    """The channel's input line. Every printable key is text here, so leaving it takes
    escape (``channel.leave``) or the leave-pane key; while it has the keys its placeholder
    says so."""

    BINDINGS: ClassVar[list[BindingType]] = textual_bindings("say")

    def __init__(
        self, placeholder: str, *, suggester: Suggester | None = None, id: str | None = None
    ) -> None:
        # Not select_on_focus: text kept from before leaving goes on where it ended.
        super().__init__(placeholder=placeholder, suggester=suggester, id=id, select_on_focus=False)
        self.resting_placeholder = placeholder

    def action_leave(self) -> None:
        """Back to navigation: no widget has the keys, so the app's letters work again."""
        self.screen.set_focus(None)

    def on_focus(self) -> None:
        keymap = getattr(self.app, "keymap", {})
        leave = " or ".join(
            dict.fromkeys(key_label(name, keymap) for name in ("channel.leave", "pane.leave"))
        )
        self.placeholder = f"{self.resting_placeholder} · {leave} leaves"

    def on_blur(self) -> None:
        self.placeholder = self.resting_placeholder


class ChannelView(Vertical):
    """The message list and the input line."""

    DEFAULT_CSS = """
    ChannelView {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        height: 1fr;
        width: 1fr;
    }
    ChannelView > #messages { height: 1fr; padding: 0 1; }
    ChannelView > #say { dock: bottom; border: none; height: 1; padding: 0 1; }
    ChannelView > #say:focus { background: $boost; }
    """

    class Said(Message):
        """The user typed a message in the channel's input line."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, agent_names: list[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "channel"
        self.agent_names = list(agent_names)
        self._styles = {
            name: AUTHOR_STYLES[i % len(AUTHOR_STYLES)] for i, name in enumerate(agent_names)
        }
        self.shown = 0

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="messages")
        yield SayInput(
            "say something: @agent to talk to one, else guidance for the step",
            suggester=SuggestFromList([f"@{n} " for n in self.agent_names], case_sensitive=False),
            id="say",
        )

    def show(self, message: ChannelMessage) -> None:
        """Append one message (the newest), keeping the view at the end if it was there."""
        messages = self.query_one("#messages", VerticalScroll)
        if not messages.is_attached:
            return  # the app is closing; the message is in the run's channel file
        at_end = messages.is_vertical_scroll_end
        style = FIXED_STYLES.get(message.author) or self._styles.get(message.author, "$foreground")
        messages.mount(MessageView(message, style))
        self.shown += 1
        if at_end:
            messages.call_after_refresh(messages.scroll_end, animate=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        event.input.value = ""
        if text:
            self.post_message(self.Said(text))

    def focus_input(self) -> None:
        self.query_one("#say", SayInput).focus()

    def text(self) -> str:
        """Everything shown, as plain text (for tests and copy)."""
        return "\n".join(view.render_text() for view in self.query(MessageView))
