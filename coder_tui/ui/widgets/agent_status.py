"""How an agent's status looks everywhere in the UI: a glyph, a word and a theme colour."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from coder_tui.core.agents.events import AgentStatus, ApprovalPolicy
from coder_tui.server.protocol import AgentView

GLYPHS = {
    AgentStatus.STARTING: "◌",
    AgentStatus.IDLE: "●",
    AgentStatus.WORKING: "◐",
    AgentStatus.NEEDS_APPROVAL: "⚠",
    AgentStatus.EXITED: "✕",
}
# Theme variables, so a theme change recolours statuses too.
STYLES = {
    AgentStatus.STARTING: "dim",
    AgentStatus.IDLE: "$success",
    AgentStatus.WORKING: "$warning",
    AgentStatus.NEEDS_APPROVAL: "bold $error",
    AgentStatus.EXITED: "dim $error",
}
POLICY_LABELS = {
    ApprovalPolicy.ASK: "",
    ApprovalPolicy.APPROVE_EDITS: "auto-approves edits",
    ApprovalPolicy.APPROVE_ALL: "auto-approves all",
}


def status_content(agent: AgentView) -> Content:
    """The agent's status as the server describes it: glyph and words in the status colour,
    and its policy when it is not 'ask'."""
    status = AgentStatus(agent.status)
    style = STYLES[status]
    parts: list[tuple[str, str] | str] = [(f"{GLYPHS[status]} {agent.words}", style)]
    policy = POLICY_LABELS[ApprovalPolicy(agent.policy)]
    if policy:
        parts += [" · ", (policy, "italic $accent")]
    return Content.assemble(*parts)


class StatusBar(Static):
    """One line: every agent's status, and what to press when one needs approval."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    """

    def show(
        self,
        agents: list[tuple[int, AgentView]],
        selected: str | None,
        approval_hint: str,
    ) -> None:
        """``agents`` pairs each agent with its pane number (the key that enters it);
        ``approval_hint`` says which keys answer a prompt (the user's keymap may move them)."""
        parts: list[Content | tuple[str, str] | str] = []
        for position, (number, agent) in enumerate(agents):
            if position:
                parts.append(("  │  ", "dim"))
            label = f"{number} {agent.name} "
            parts.append((label, "bold") if agent.name == selected else label)
            parts.append(status_content(agent))
        waiting = [a.name for _, a in agents if a.status == AgentStatus.NEEDS_APPROVAL]
        if waiting:
            parts.append((f"   {', '.join(waiting)}: ", "bold"))
            parts.append((approval_hint, "bold $error"))
        self.update(Content.assemble(*parts))
