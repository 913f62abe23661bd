"""A scripted stand-in for a coding-agent CLI, for testing coder-tui without API keys.

``python -m coder_tui.fake_agent [options] [PROMPT]`` draws a Claude-like screen in its
terminal (header, transcript, spinner, bordered input box, footer, approval prompt), reads raw
keys and bracketed pastes, answers prompts from a YAML script and, with ``--hook-command``,
calls a command for each event with Claude-compatible JSON on stdin. It never imports Textual.

Modules: :mod:`.script` (the YAML script), :mod:`.keys` (raw input parsing), :mod:`.tui`
(drawing), :mod:`.widths` (cell widths, as the emulator has them), :mod:`.hooks` (hook command
and transcript file), :mod:`.app` (options and loop).
"""
