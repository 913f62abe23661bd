"""Built-in agent profiles (YAML), loaded by coder_tui.core.agents.profile."""
