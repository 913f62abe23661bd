"""``python -m coder_tui.fake_agent``."""

from coder_tui.fake_agent.app import main

raise SystemExit(main())
