"""Raw terminal input to key, text and paste events, as an Ink-based CLI would see them.

Bytes come from raw reads and may split anywhere: inside a UTF-8 character, an escape
sequence or a bracketed paste. The parser keeps what it cannot finish yet. A lone ESC is
ambiguous (the Esc key, or the start of a sequence whose rest has not arrived): the caller
asks :attr:`InputParser.pending_escape` and calls :meth:`InputParser.flush` after a short
timeout. ESC followed by another character in the same read is Alt+that key (ignored), as
in real terminal apps: send Esc, wait, then type.
"""

from __future__ import annotations

from dataclasses import dataclass

PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"

_CONTROL_KEYS = {
    0x0D: "enter",
    0x0A: "newline",  # Ctrl+J
    0x7F: "backspace",
    0x08: "backspace",
    0x03: "ctrl+c",
    0x04: "ctrl+d",
    0x09: "tab",
    0x15: "ctrl+u",
}
_CSI_FINAL_KEYS = {"A": "up", "B": "down", "C": "right", "D": "left", "H": "home", "F": "end"}
_CSI_TILDE_KEYS = {"3": "delete", "1": "home", "4": "end", "7": "home", "8": "end"}
# Strings that run until BEL or ST: OSC, DCS, APC, PM, SOS (e.g. answers to terminal queries).
_STRING_INTRODUCERS = {ord("]"), ord("P"), ord("_"), ord("^"), ord("X")}


@dataclass(frozen=True)
class Key:
    name: str  # enter, newline, backspace, esc, up, down, left, right, ctrl+c, ctrl+d, ...


@dataclass(frozen=True)
class Text:
    text: str  # typed printable characters


@dataclass(frozen=True)
class Paste:
    text: str  # a bracketed paste, verbatim except CR / CRLF turned into LF


Event = Key | Text | Paste


def _utf8_length(lead: int) -> int:
    if lead < 0xC0:
        return 1
    if lead < 0xE0:
        return 2
    if lead < 0xF0:
        return 3
    return 4


def _incomplete_utf8_tail(data: bytes | bytearray) -> int:
    """How many bytes at the end of ``data`` start a UTF-8 character not yet complete."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # continuation: keep looking for the lead byte
            continue
        if byte >= 0xC0 and _utf8_length(byte) > back:
            return back
        return 0
    return 0


def _paste_end_prefix(data: bytearray) -> int:
    """Length of the longest suffix of ``data`` that could be the start of PASTE_END."""
    for size in range(min(len(PASTE_END) - 1, len(data)), 0, -1):
        if data.endswith(PASTE_END[:size]):
            return size
    return 0


class InputParser:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._paste: bytearray | None = None

    @property
    def in_paste(self) -> bool:
        return self._paste is not None

    @property
    def pending_escape(self) -> bool:
        """An ESC (maybe with part of a sequence) waits for more bytes: time it out."""
        return self._paste is None and self._buf[:1] == b"\x1b"

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        return self._parse()

    def flush(self) -> list[Event]:
        """After the escape timeout: a waiting ESC is the Esc key; what followed it (an
        unfinished sequence) is parsed as ordinary input."""
        if not self.pending_escape:
            return []
        del self._buf[:1]
        return [Key("esc"), *self._parse()]

    def _parse(self) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        while buf or self._paste is not None:
            if self._paste is not None:
                end = buf.find(PASTE_END)
                if end < 0:
                    keep = _paste_end_prefix(buf)
                    self._paste += buf[: len(buf) - keep]
                    del buf[: len(buf) - keep]
                    break
                self._paste += buf[:end]
                del buf[: end + len(PASTE_END)]
                text = self._paste.decode("utf-8", "replace")
                self._paste = None
                events.append(Paste(text.replace("\r\n", "\n").replace("\r", "\n")))
                continue
            byte = buf[0]
            if byte == 0x1B:
                used, event = self._escape()
                if used == 0:
                    break
                del buf[:used]
                if event is not None:
                    events.append(event)
            elif byte < 0x20 or byte == 0x7F:
                del buf[:1]
                name = _CONTROL_KEYS.get(byte, f"ctrl+{chr(byte + 0x60)}")
                events.append(Key(name))
            else:
                end = 0
                while end < len(buf) and buf[end] >= 0x20 and buf[end] != 0x7F:
                    end += 1
                run = buf[:end]
                if end == len(buf):
                    run = run[: len(run) - _incomplete_utf8_tail(run)]
                if not run:
                    break  # only the start of a character so far
                del buf[: len(run)]
                text = run.decode("utf-8", "replace")
                if events and isinstance(events[-1], Text):
                    events[-1] = Text(events[-1].text + text)
                else:
                    events.append(Text(text))
        return events

    def _escape(self) -> tuple[int, Event | None]:
        """Parse the sequence at the start of the buffer: (bytes used, event); 0 = wait."""
        buf = self._buf
        if len(buf) < 2:
            return 0, None
        second = buf[1]
        if second == ord("["):
            end = 2
            while end < len(buf) and 0x20 <= buf[end] <= 0x3F:
                end += 1
            if end == len(buf):
                return 0, None
            final = chr(buf[end])
            params = buf[2:end].decode("latin-1")
            if not 0x40 <= buf[end] <= 0x7E:
                return end, None  # malformed: drop the introducer and parameters
            if final == "~" and params == "200":
                self._paste = bytearray()
                return end + 1, None
            if final == "~":
                name = _CSI_TILDE_KEYS.get(params.split(";")[0])
            elif params in ("", "1") or params.startswith("1;"):
                name = _CSI_FINAL_KEYS.get(final)
                if final == "Z":
                    name = "shift+tab"
            else:
                name = None  # a report or a key we do not use (kitty, focus, ...)
            return end + 1, Key(name) if name else None
        if second == ord("O"):
            if len(buf) < 3:
                return 0, None
            name = _CSI_FINAL_KEYS.get(chr(buf[2]))
            return 3, Key(name) if name else None
        if second in _STRING_INTRODUCERS:
            for index in range(2, len(buf)):
                if buf[index] == 0x07:
                    return index + 1, None
                if buf[index] == 0x1B and index + 1 < len(buf) and buf[index + 1] == ord("\\"):
                    return index + 2, None
            return 0, None
        if second == 0x1B:
            return 1, Key("esc")  # Esc twice: the first is a key, the second starts over
        if second == 0x0D:
            return 2, Key("alt+enter")
        size = _utf8_length(second)
        if len(buf) < 1 + size:
            return 0, None
        return 1 + size, None  # Alt+character: no binding
