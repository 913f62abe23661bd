"""The channel: persisted, exactly-once with keys, tolerant of a crash at any moment.

The crash test kills a real child process with SIGKILL while it posts, then reopens the file.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from pathlib import Path

import pytest

from coder_tui.core.channel import Channel, ChannelMessage, MessageKind
from tests.killing import grew, kill_while_running

ROOT = Path(__file__).resolve().parents[2]


def lines_of(path: Path) -> list[dict[str, object]]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the file must end with a complete line"
    return [json.loads(line) for line in data.splitlines()]


def test_post_persists_and_reloads_identically(tmp_path: Path) -> None:
    path = tmp_path / "channel.jsonl"
    channel = Channel(path)
    first = channel.post("user", "hello @reviewer", kind=MessageKind.USER, targets=["reviewer"])
    second = channel.post(
        "reviewer",
        "line one\nline two, ünïcode ✓",
        kind=MessageKind.REPLY,
        step="review",
        round=2,
        key="run:step:review:round:2:reply",
        meta={"source": "hook", "n": 3},
    )
    assert (first.seq, second.seq) == (1, 2)
    assert first.id != second.id and first.id.startswith("1-")
    assert len(path.read_bytes().splitlines()) == 2  # a newline in text stays one line

    reloaded = Channel(path)
    assert reloaded.messages == [first, second]
    assert reloaded.find("run:step:review:round:2:reply") == second
    assert reloaded.find("nope") is None
    assert reloaded.last_seq == 2
    third = reloaded.post("operator", "next", kind=MessageKind.OPERATOR)
    assert third.seq == 3


def test_in_memory_channel_writes_nothing(tmp_path: Path) -> None:
    channel = Channel()
    message = channel.post("user", "hi", kind=MessageKind.USER, key="k")
    assert channel.post("user", "again", kind=MessageKind.USER, key="k") is message
    assert len(channel) == 1
    assert list(tmp_path.iterdir()) == []


def test_key_returns_the_existing_message_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "channel.jsonl"
    channel = Channel(path)
    seen: list[ChannelMessage] = []
    channel.subscribe(seen.append)
    first = channel.post("operator", "step started", kind=MessageKind.OPERATOR, key="a")
    again = channel.post("operator", "different text", kind=MessageKind.SYSTEM, key="a")
    assert again is first
    assert seen == [first]
    assert len(lines_of(path)) == 1


def test_key_survives_reload(tmp_path: Path) -> None:
    path = tmp_path / "channel.jsonl"
    Channel(path).post("reviewer", "LGTM", kind=MessageKind.REPLY, key="r:1")
    reopened = Channel(path)
    again = reopened.post("reviewer", "LGTM", kind=MessageKind.REPLY, key="r:1")
    assert again.text == "LGTM" and again.seq == 1
    assert len(lines_of(path)) == 1
    assert Channel(path).messages == reopened.messages


def test_torn_last_line_is_ignored_then_truncated(tmp_path: Path) -> None:
    path = tmp_path / "channel.jsonl"
    channel = Channel(path)
    channel.post("user", "one", kind=MessageKind.USER)
    channel.post("user", "two", kind=MessageKind.USER, key="two")
    whole = path.read_bytes()
    third = ChannelMessage(
        seq=3, id="3-abc", at=time.time(), author="user", text="three", kind=MessageKind.USER
    ).model_dump_json()
    torn = whole + third[: len(third) // 2].encode()
    path.write_bytes(torn)

    reopened = Channel(path)
    assert [m.text for m in reopened.messages] == ["one", "two"]
    assert path.read_bytes() == torn  # loading alone never modifies the file
    assert reopened.post("user", "two", kind=MessageKind.USER, key="two").seq == 2
    assert path.read_bytes() == torn  # nor does an idempotent post

    posted = reopened.post("user", "three again", kind=MessageKind.USER)
    assert posted.seq == 3
    records = lines_of(path)
    assert [r["text"] for r in records] == ["one", "two", "three again"]
    assert Channel(path).messages == reopened.messages


def test_garbage_tail_is_dropped_but_a_bad_middle_line_is_kept(tmp_path: Path) -> None:
    """Zeros (what a power loss can leave) at the end are a torn tail; a bad line between good
    ones is not a crash artefact and stays on disk, skipped."""
    path = tmp_path / "channel.jsonl"
    Channel(path).post("user", "one", kind=MessageKind.USER)
    Channel(path).post("user", "two", kind=MessageKind.USER)
    one, two = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(one + b"not json\n" + two)
    with path.open("ab") as f:
        f.write(b"\x00" * 40 + b"\n" + b"\x00" * 10)
    reopened = Channel(path)
    assert [m.text for m in reopened.messages] == ["one", "two"]
    reopened.post("user", "three", kind=MessageKind.USER)
    assert path.read_bytes().splitlines()[1] == b"not json"
    assert path.read_bytes().endswith(b"\n")
    assert [m.text for m in Channel(path).messages] == ["one", "two", "three"]


def test_since(tmp_path: Path) -> None:
    channel = Channel(tmp_path / "c.jsonl")
    for i in range(5):
        channel.post("user", str(i), kind=MessageKind.USER)
    assert [m.seq for m in channel.since(0)] == [1, 2, 3, 4, 5]
    assert [m.seq for m in channel.since(3)] == [4, 5]
    assert channel.since(5) == [] and channel.since(99) == []
    assert Channel().since(0) == []


def test_subscribers_run_after_the_line_is_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "channel.jsonl"
    channel = Channel(path)
    checked: list[int] = []

    def on_message(message: ChannelMessage) -> None:
        on_disk = [json.loads(line) for line in path.read_bytes().splitlines()]
        assert on_disk[-1]["id"] == message.id
        assert ChannelMessage.model_validate(on_disk[-1]) == message
        assert channel.messages[-1] == message
        checked.append(message.seq)

    def broken(message: ChannelMessage) -> None:
        raise RuntimeError("a subscriber bug must not break posting")

    channel.subscribe(broken)
    unsubscribe = channel.subscribe(on_message)
    channel.post("user", "one", kind=MessageKind.USER)
    channel.post("user", "two", kind=MessageKind.USER)
    unsubscribe()
    unsubscribe()  # twice is harmless
    channel.post("user", "three", kind=MessageKind.USER)
    assert checked == [1, 2]


def test_a_subscriber_may_post(tmp_path: Path) -> None:
    channel = Channel(tmp_path / "c.jsonl")

    def echo(message: ChannelMessage) -> None:
        if message.author == "user":
            channel.post("operator", f"got {message.text}", kind=MessageKind.OPERATOR)

    channel.subscribe(echo)
    channel.post("user", "x", kind=MessageKind.USER)
    assert [m.text for m in channel.messages] == ["x", "got x"]


def test_concurrent_posts_stay_dense_and_unique(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    channel = Channel(path)

    def worker(n: int) -> None:
        for i in range(40):
            channel.post(f"a{n}", str(i), kind=MessageKind.REPLY, key=f"{i % 20}:{n}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = lines_of(path)
    assert [r["seq"] for r in records] == list(range(1, 81))
    assert len({r["key"] for r in records}) == 80
    assert Channel(path).messages == channel.messages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@reviewer please look", ["reviewer"]),
        ("@Reviewer and @FIXER, then @reviewer again", ["reviewer", "fixer"]),
        ("@fixer: go. @reviewer.", ["fixer", "reviewer"]),
        ("(@reviewer) `@fixer`", ["reviewer", "fixer"]),
        ("@nobody @reviewerx @reviewer_2", []),
        ("mail me@reviewer.io or a@fixer, x.@fixer", []),
        ("@reviewer.io is a domain", []),
        ("@@reviewer", []),
        ("hey @claude-2 and @claude", ["claude-2", "claude"]),
        ("@claude-3 is unknown", []),
        ("@fixer's patch", ["fixer"]),
        ("", []),
    ],
)
def test_mentions(text: str, expected: list[str]) -> None:
    known = ["reviewer", "fixer", "claude", "claude-2"]
    assert Channel.mentions(text, known) == expected


def test_mentions_keep_the_known_spelling() -> None:
    assert Channel.mentions("@CODEX do it", ["Codex"]) == ["Codex"]
    assert Channel.mentions("@x", []) == []


# --- kill -9 -------------------------------------------------------------------------------------

POSTER = """
import sys
from pathlib import Path
from coder_tui.core.channel import Channel, MessageKind

path, n = Path(sys.argv[1]), int(sys.argv[2])
channel = Channel(path)
while True:  # keys 0..n-1, then the same keys forever (no-ops): the parent kills us
    for i in range(n):
        channel.post(
            "operator", f"message {i} " + "x" * (i * 37 % 301), kind=MessageKind.OPERATOR,
            key=f"k{i}", meta={"i": i},
        )
"""


def test_kill_9_while_posting_then_resume_posts_each_key_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(20240607)
    n = 1500
    partial = 0
    for trial in range(5):
        path = tmp_path / f"channel-{trial}.jsonl"
        kill_while_running(
            [sys.executable, "-c", POSTER, str(path), str(n)],
            grew(path),
            rng.uniform(0.0, 0.25),
        )

        # Raw file: complete lines all parse; at most an unterminated fragment follows them.
        data = path.read_bytes()
        complete, _, fragment = data.rpartition(b"\n")
        raw = [json.loads(line) for line in complete.splitlines()]
        if fragment:
            with pytest.raises(json.JSONDecodeError):
                json.loads(fragment)

        reopened = Channel(path)
        k = len(reopened.messages)
        assert len(raw) == k
        assert [m.key for m in reopened.messages] == [f"k{i}" for i in range(k)]
        assert [m.seq for m in reopened.messages] == list(range(1, k + 1))
        partial += 0 < k < n

        # Resume: replay every key; only the missing ones are written.
        for i in range(n):
            message = reopened.post(
                "operator", f"message {i} (resumed)", kind=MessageKind.OPERATOR, key=f"k{i}"
            )
            assert message.seq == i + 1
            assert message.text.endswith("(resumed)") == (i >= k)
        records = lines_of(path)
        assert [r["key"] for r in records] == [f"k{i}" for i in range(n)]
        assert [r["seq"] for r in records] == list(range(1, n + 1))
        assert Channel(path).messages == reopened.messages
    assert partial >= 2, "the kills should land mid-way through the posts"
