"""The engine: PTYs, terminal emulation, keys, agents, channel, operator.

Nothing under ``core`` may import Textual: the same engine runs headless and is
tested without a UI (``tests/unit/test_core_isolation.py`` enforces it).
"""
