"""Agent CLIs in PTYs: profiles (YAML as data), launches, one adapter per CLI with hooks, and
the Agent that turns a CLI's screen and hook events into a status, deliveries and replies."""
