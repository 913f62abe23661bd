"""Exact reply text from a CLI's own transcript file, where its turn-end hook carries none that
can be trusted.

Gemini CLI 0.61's AfterAgent hook has ``prompt_response``, but when the reply streamed in several
chunks that field repeats pieces of them; the session transcript (JSONL, named by the hook's
``transcript_path``) holds the reply as the model sent it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def gemini_last_reply(transcript: Path) -> str | None:
    """The model's last text of the latest turn (after the last user message), or None when
    the file cannot be read or that turn has no text yet."""
    try:
        lines = transcript.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    reply: str | None = None
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        if not isinstance(record, dict):
            continue
        kind = record.get("type")
        if kind == "user":
            reply = None
        elif kind == "gemini":
            text = _text_of(record.get("content"))
            if text:
                reply = text
    return reply
