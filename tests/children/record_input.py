"""Child: put the terminal in raw mode, apply the modes asked for, record every byte read.

Usage: record_input.py LOG [--mode SEQ]...  Each read is appended to LOG as a hex line, so a
test can compare exactly what the child received. It prints READY once set up, and a visible
'<n>' count of bytes after each read so the screen changes with input.
"""

import os
import sys
import termios
import tty

log_path = sys.argv[1]
modes = [arg for flag, arg in zip(sys.argv[2:], sys.argv[3:], strict=False) if flag == "--mode"]
fd = sys.stdin.fileno()
saved = termios.tcgetattr(fd)
tty.setraw(fd)
try:
    for seq in modes:
        os.write(1, seq.encode().decode("unicode_escape").encode("latin-1"))
    os.write(1, b"READY\r\n")
    total = 0
    with open(log_path, "a", buffering=1) as log:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            total += len(data)
            log.write(data.hex() + "\n")
            os.write(1, f"<{total}>".encode())
finally:
    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
