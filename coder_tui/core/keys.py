"""Host key presses to the bytes a child program expects.

The UI hands over keys as names in Textual's spelling ("ctrl+c", "shift+tab", "f5", "a", "A",
"alt+x", "exclamation_mark" with its character "!") but this module imports neither Textual nor
pyghostty: it turns a name into a :class:`KeyStroke` (a Ghostty key name, modifier bits, the
text the key types) and lets :meth:`Screen.encode_key` produce bytes for the child's current
modes (application cursor keys, kitty keyboard flags, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from coder_tui.core.emulator import MOD_ALT, MOD_CTRL, MOD_SHIFT, MOD_SUPER

# Textual key names -> Ghostty key names (the GHOSTTY_KEY_* suffix).
_NAMED_KEYS: dict[str, str] = {
    "up": "ARROW_UP",
    "down": "ARROW_DOWN",
    "left": "ARROW_LEFT",
    "right": "ARROW_RIGHT",
    "home": "HOME",
    "end": "END",
    "pageup": "PAGE_UP",
    "pagedown": "PAGE_DOWN",
    "insert": "INSERT",
    "delete": "DELETE",
    "backspace": "BACKSPACE",
    "tab": "TAB",
    "enter": "ENTER",
    "escape": "ESCAPE",
    "space": "SPACE",
    "minus": "MINUS",
    "equals_sign": "EQUAL",
    "comma": "COMMA",
    "full_stop": "PERIOD",
    "slash": "SLASH",
    "backslash": "BACKSLASH",
    "semicolon": "SEMICOLON",
    "apostrophe": "QUOTE",
    "grave_accent": "BACKQUOTE",
    "left_square_bracket": "BRACKET_LEFT",
    "right_square_bracket": "BRACKET_RIGHT",
    "@": "DIGIT_2",  # ctrl+@ is NUL, typed as ctrl+2 / ctrl+space on most keyboards
}
_NAMED_KEYS.update({f"f{n}": f"F{n}" for n in range(1, 25)})

# Textual reports these control characters under their letter names; the child expects the
# key they stand for (a terminal sends the same byte for both, and kitty mode tells them apart).
_CONTROL_ALIASES = {"ctrl+i": "tab", "ctrl+m": "enter"}

_MODIFIERS = {
    "shift": MOD_SHIFT,
    "ctrl": MOD_CTRL,
    "alt": MOD_ALT,
    "meta": MOD_ALT,
    "super": MOD_SUPER,
}


@dataclass(frozen=True, slots=True)
class KeyStroke:
    """One key press, independent of any encoding."""

    key: str  # Ghostty key name, e.g. "ARROW_UP", "A", "UNIDENTIFIED"
    mods: int = 0
    text: str = ""  # what the key types, "" for non-text keys
    unshifted: str = ""  # the character without shift (kitty encoding reports it)
    legacy: bytes = b""  # what a classic terminal sends, if the encoder has no answer


# Control combinations whose classic byte the legacy encoder does not produce for every
# spelling Textual reports (ctrl+_ , ctrl+^, ctrl+[ under the kitty protocol, ctrl+shift+a).
_CONTROL_BYTES = {
    "@": 0x00,
    "space": 0x00,
    "left_square_bracket": 0x1B,
    "[": 0x1B,
    "backslash": 0x1C,
    "right_square_bracket": 0x1D,
    "]": 0x1D,
    "circumflex_accent": 0x1E,
    "^": 0x1E,
    "underscore": 0x1F,
    "_": 0x1F,
    "question_mark": 0x7F,
    "?": 0x7F,
}


def _legacy_control(base: str, mods: int, character: str | None) -> bytes:
    if not mods & MOD_CTRL:
        return b""
    if character and len(character) == 1 and (ord(character) < 0x20 or character == "\x7f"):
        return character.encode()
    if len(base) == 1 and base.isascii() and base.isalpha():
        return bytes([ord(base.upper()) & 0x1F])
    code = _CONTROL_BYTES.get(base)
    return b"" if code is None else bytes([code])


def parse_key(name: str, character: str | None = None) -> KeyStroke:
    """A Textual key name (plus the character it produced, if any) as a KeyStroke."""
    name = _CONTROL_ALIASES.get(name, name)
    *mod_names, base = name.split("+") if name != "+" else ["+"]
    if base == "" and name.endswith("+"):
        base = "+"  # e.g. "ctrl++"
    mods = 0
    for mod in mod_names:
        mods |= _MODIFIERS.get(mod, 0)
    legacy = _legacy_control(base, mods, character)
    stroke = _parse(base, mods, character)
    return replace(stroke, legacy=legacy) if legacy else stroke


def _parse(base: str, mods: int, character: str | None) -> KeyStroke:
    typed = character if character and character.isprintable() else ""
    if base in _NAMED_KEYS:
        key = _NAMED_KEYS[base]
        text = " " if base == "space" and not mods & (MOD_CTRL | MOD_ALT) else ""
        if not text and typed and not mods & MOD_CTRL and len(base) > 1 and base not in _TEXTLESS:
            text = typed
        unshifted = _UNSHIFTED.get(key, "")
        return KeyStroke(key, mods, text, unshifted)
    if len(base) == 1:
        return _char_stroke(base, mods)
    if typed and len(typed) == 1:
        # A punctuation or non-ASCII key that Textual names by its Unicode name.
        return _char_stroke(typed, mods)
    return KeyStroke("UNIDENTIFIED", mods, typed, "")


def _char_stroke(char: str, mods: int) -> KeyStroke:
    if char.isascii() and char.isalpha():
        if char.isupper():
            mods |= MOD_SHIFT
        text = "" if mods & MOD_CTRL else (char.upper() if mods & MOD_SHIFT else char)
        return KeyStroke(char.upper(), mods, text, char.lower())
    if char.isascii() and char.isdigit():
        return KeyStroke(f"DIGIT_{char}", mods, "" if mods & MOD_CTRL else char, char)
    key = _PUNCTUATION.get(char, "UNIDENTIFIED")
    return KeyStroke(key, mods, "" if mods & MOD_CTRL else char, char)


_TEXTLESS = {
    "tab",
    "enter",
    "escape",
    "backspace",
    "delete",
    "insert",
    "home",
    "end",
    "pageup",
    "pagedown",
    "up",
    "down",
    "left",
    "right",
} | {f"f{n}" for n in range(1, 25)}

_PUNCTUATION = {
    "-": "MINUS",
    "=": "EQUAL",
    ",": "COMMA",
    ".": "PERIOD",
    "/": "SLASH",
    "\\": "BACKSLASH",
    ";": "SEMICOLON",
    "'": "QUOTE",
    "`": "BACKQUOTE",
    "[": "BRACKET_LEFT",
    "]": "BRACKET_RIGHT",
    " ": "SPACE",
}
_UNSHIFTED = {v: k for k, v in _PUNCTUATION.items()}
