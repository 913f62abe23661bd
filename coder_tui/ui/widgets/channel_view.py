"""The channel pane: what the user, the agents and the operator said, in order, and a line to
say something: ``@agent text`` goes to that agent, anything else is guidance for the step."""

from __future__ import annotations

import time

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from coder_tui.core.channel import ChannelMessage, MessageKind

AUTHOR_STYLES = ["$primary", "$secondary", "$accent", "$success", "$warning"]
FIXED_STYLES = {"user": "bold $text", "operator": "italic $text-muted", "system": "bold $error"}
FOLD_LINES = 8


class MessageView(Static, can_focus=True):
    """One channel message; a long one is folded until expanded (enter or click)."""

    BINDINGS = [Binding("enter,space", "toggle_fold", "Expand / fold", show=False)]

    DEFAULT_CSS = """
    MessageView { padding: 0 0; }
    MessageView:focus { background: $boost; }
    MessageView.-prompt { color: $text-muted; }
    """

    def __init__(self, message: ChannelMessage, author_style: str) -> None:
        super().__init__()
        self.message = message
        self.author_style = author_style
        self.expanded = False
        self.set_class(message.kind is MessageKind.PROMPT, "-prompt")
        self.update(self._content())

    @property
    def foldable(self) -> bool:
        return self.message.text.count("\n") + 1 > FOLD_LINES

    def _content(self) -> Content:
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
        text = message.text
        if self.foldable and not self.expanded:
            lines = text.split("\n")
            text = "\n".join(lines[:FOLD_LINES])
            hidden = len(lines) - FOLD_LINES
            return Content.assemble(
                *head, "\n", text, (f"\n… {hidden} more lines (enter to expand)", "dim italic")
            )
        return Content.assemble(*head, "\n", text)

    def action_toggle_fold(self) -> None:
        if self.foldable:
            self.expanded = not self.expanded
            self.update(self._content())

    def on_click(self, event: events.Click) -> None:
        self.action_toggle_fold()


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
        yield Input(
            placeholder="say something: @agent to talk to one, else guidance for the step",
            suggester=SuggestFromList([f"@{n} " for n in self.agent_names], case_sensitive=False),
            id="say",
        )

    def show(self, message: ChannelMessage) -> None:
        """Append one message (the newest), keeping the view at the end if it was there."""
        messages = self.query_one("#messages", VerticalScroll)
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
        self.query_one("#say", Input).focus()

    def text(self) -> str:
        """Everything shown, as plain text (for tests and copy)."""
        return "\n".join(str(view.render()) for view in self.query(MessageView))
