"""Child: write random binary garbage as fast as the PTY takes it, for SECONDS seconds."""

import os
import random
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
rng = random.Random(1234)
end = time.monotonic() + seconds
block = bytes(rng.getrandbits(8) for _ in range(65536))
while time.monotonic() < end:
    start = rng.randrange(0, 32768)
    os.write(1, block[start : start + 32768])
os.write(1, b"\x1bc\r\nFLOOD-DONE\r\n")
time.sleep(3600)
