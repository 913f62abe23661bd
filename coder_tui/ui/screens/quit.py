"""The quit dialog: detach (the agents keep working in the server) or stop them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from coder_tui.ui.bindings import key_label, textual_bindings

QuitChoice = Literal["detach", "stop"]


class QuitScreen(ModalScreen[QuitChoice | None]):
    """Asks how to leave; dismisses with the choice, or None to stay."""

    BINDINGS: ClassVar[list[BindingType]] = textual_bindings("quit")

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 64; height: auto; padding: 1 2;
        border: thick $warning; background: $panel;
    }
    QuitScreen Static { width: 100%; margin-bottom: 1; }
    QuitScreen Horizontal { height: auto; width: 100%; align-horizontal: center; }
    QuitScreen Button { margin: 0 1; }
    """

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = dict(keymap)

    def compose(self) -> ComposeResult:
        detach, stop, cancel = (
            key_label(name, self.keymap) for name in ("quit.detach", "quit.stop", "quit.cancel")
        )
        with Vertical():
            yield Static(
                "Leave coder-tui?\n\nDetach: the agents and any run keep working in the "
                "coder-tui server; `coder-tui attach` shows them again.\nStop: this session's "
                "agents are stopped (a run in flight can be resumed later)."
            )
            with Horizontal():
                yield Button(f"Detach ({detach})", id="detach", variant="primary")
                yield Button(f"Stop agents ({stop})", id="stop", variant="error")
                yield Button(f"Cancel ({cancel})", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id or "")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice if choice in ("detach", "stop") else None)  # type: ignore[arg-type]
