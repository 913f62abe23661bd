"""coder-tui: coding-agent CLIs side by side in terminal panes."""

__version__ = "0.1.0"
