"""Child: print the terminal size at start and after every SIGWINCH, as 'SIZE colsxrows'."""

import os
import signal
import sys
import time


def report(*_: object) -> None:
    cols, rows = os.get_terminal_size(sys.stdout.fileno())
    sys.stdout.write(f"SIZE {cols}x{rows}\r\n")
    sys.stdout.flush()


signal.signal(signal.SIGWINCH, report)
report()
while True:
    time.sleep(3600)
