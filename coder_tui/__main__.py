"""``python -m coder_tui`` is the ``coder-tui`` command."""

import sys

from coder_tui.cli import main

sys.exit(main())
