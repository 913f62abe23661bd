"""Child: draw a fixed screen with colours, attributes and wide characters, then wait.

Used by the snapshot tests, so every byte of it is deterministic.
"""

import sys
import time

out = sys.stdout
out.write("\x1b]2;showcase\x07")
out.write("plain \x1b[1mbold\x1b[0m \x1b[3mitalic\x1b[0m \x1b[4munderline\x1b[0m ")
out.write("\x1b[7minverse\x1b[0m \x1b[2mfaint\x1b[0m \x1b[9mstrike\x1b[0m\r\n")
for n in range(8):
    out.write(f"\x1b[3{n}m fg{n} \x1b[0m")
out.write("\r\n")
for n in range(8):
    out.write(f"\x1b[4{n}m bg{n} \x1b[0m")
out.write("\r\n")
out.write("".join(f"\x1b[48;5;{16 + n * 6}m  " for n in range(36)) + "\x1b[0m\r\n")
out.write("".join(f"\x1b[48;2;{n * 8};{255 - n * 8};128m " for n in range(32)) + "\x1b[0m\r\n")
out.write("wide: 中文字符 | emoji: 😀🚀 | combining: e\u0301 a\u0308 | end\r\n")
out.write("\x1b[38;5;208m┌────────┐\x1b[0m\r\n\x1b[38;5;208m│ box 箱 │\x1b[0m\r\n")
out.write("\x1b[38;5;208m└────────┘\x1b[0m\r\n")
out.write("\x1b[44m\x1b[K\x1b[0m\r\n")
out.write("prompt> ")
out.flush()
time.sleep(3600)
