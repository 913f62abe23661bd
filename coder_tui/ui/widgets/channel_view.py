"""The channel pane: what the agents, the user and (later) the operator said, in order.

For now it shows the agent layer's events: prompts accepted, replies, approvals, exits.
The operator issue turns it into the shared channel with an input line and @mentions.
"""

from __future__ import annotations

import time

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from coder_tui.core.agents.events import (
    AgentEvent,
    AgentExited,
    ApprovalAnswered,
    ApprovalRequested,
    PromptAccepted,
    TurnEnded,
)

AUTHOR_STYLES = ["$primary", "$secondary", "$accent", "$success", "$warning"]
FOLD_LINES = 12


class ChannelView(VerticalScroll):
    DEFAULT_CSS = """
    ChannelView {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        height: 1fr;
        width: 1fr;
        padding: 0 1;
    }
    ChannelView > .message { margin-bottom: 0; }
    """

    def __init__(self, agent_names: list[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "channel"
        self._styles = {
            name: AUTHOR_STYLES[i % len(AUTHOR_STYLES)] for i, name in enumerate(agent_names)
        }

    def post_event(self, event: AgentEvent) -> None:
        body: list[str | tuple[str, str]]
        stamp = (time.strftime("%H:%M:%S ", time.localtime(event.at)), "dim")
        author = (event.agent, f"bold {self._styles.get(event.agent, '$foreground')}")
        if isinstance(event, PromptAccepted):
            body = [(" ← prompt: ", "dim"), _fold(event.prompt)]
        elif isinstance(event, TurnEnded):
            body = [(f" (turn {event.turn}, via {event.source}): ", "dim"), _fold(event.reply)]
        elif isinstance(event, ApprovalRequested):
            body = [(" asks for approval: ", "bold $error"), event.detail]
        elif isinstance(event, ApprovalAnswered):
            verdict = "approved" if event.approved else "denied"
            body = [(f" {verdict} by {event.by}", "italic")]
        elif isinstance(event, AgentExited):
            body = [(f" {event.description}", "$error")]
        else:
            return
        at_end = self.is_vertical_scroll_end
        self.mount(Static(Content.assemble(stamp, author, *body), classes="message"))
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)


def _fold(text: str) -> str:
    lines = text.split("\n")
    if len(lines) <= FOLD_LINES:
        return text
    return "\n".join(lines[:FOLD_LINES]) + f"\n… ({len(lines) - FOLD_LINES} more lines)"
