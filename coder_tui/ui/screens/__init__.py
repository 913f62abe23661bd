"""Screens shown over the panes: the template picker."""

from __future__ import annotations

from coder_tui.ui.screens.template_picker import PickResult, TemplatePicker

__all__ = ["PickResult", "TemplatePicker"]
