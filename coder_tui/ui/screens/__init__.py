"""Screens shown over the panes: the template picker."""

from __future__ import annotations

from coder_tui.ui.screens.template_picker import PickResult, TemplatePicker, fill_roles

__all__ = ["PickResult", "TemplatePicker", "fill_roles"]
