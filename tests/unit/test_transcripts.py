"""Gemini's reply is read from its session transcript (its AfterAgent hook repeats pieces of a
reply that streamed in several chunks). The records below have the shape Gemini CLI 0.61 wrote
in the end-to-end tests. Reading it is the Gemini adapter's ``read_transcript``."""

from __future__ import annotations

import json
from pathlib import Path

from coder_tui.core.agents.adapters.gemini import GeminiAdapter

gemini_last_reply = GeminiAdapter().read_transcript


def write(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_the_last_model_text_of_the_latest_turn(tmp_path: Path) -> None:
    transcript = write(
        tmp_path / "session.jsonl",
        [
            {"sessionId": "s", "kind": "main"},
            {"$set": {"messages": []}},
            {"type": "user", "content": [{"text": "first prompt"}]},
            {"type": "gemini", "content": "first reply"},
            {"type": "user", "content": [{"text": "second prompt"}]},
            {"type": "gemini", "content": "", "toolCalls": [{"name": "write_file"}]},
            {"type": "gemini", "content": [{"text": "second "}, {"text": "reply\n\n2. ✓"}]},
            {"$set": {"lastUpdated": "now"}},
        ],
    )
    assert gemini_last_reply(transcript) == "second reply\n\n2. ✓"


def test_a_turn_without_text_yet_or_no_file_gives_none(tmp_path: Path) -> None:
    transcript = write(
        tmp_path / "session.jsonl",
        [
            {"type": "user", "content": "one"},
            {"type": "gemini", "content": "old"},
            {"type": "user", "content": "two"},
        ],
    )
    with transcript.open("a") as f:
        f.write('{"type": "gemini", "content": "half a li')  # being written right now
    assert gemini_last_reply(transcript) is None
    assert gemini_last_reply(tmp_path / "missing.jsonl") is None
