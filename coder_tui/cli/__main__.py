"""``python -m coder_tui.cli`` is the ``coder-tui`` command too."""

import sys

from coder_tui.cli import main

sys.exit(main())
