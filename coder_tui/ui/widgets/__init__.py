"""Widgets of the coder-tui app."""
