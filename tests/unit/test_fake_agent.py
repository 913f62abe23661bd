"""The fake agent (``python -m coder_tui.fake_agent``) on real PTYs: no mocks, no bare sleeps.

Each test starts the fake agent in a TerminalSession (PTY + emulator), drives it with bytes
as coder-tui would, and checks the screen, the title, the terminal modes, the hook events
(recorded by a hook command that appends its stdin to a file) and files it wrote. The input
parser and the script runner also get fast pure tests.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coder_tui.core.session import TerminalSession
from coder_tui.fake_agent.keys import InputParser, Key, Paste, Text
from coder_tui.fake_agent.script import Rule, Script, ScriptRunner

SCRIPTS = Path(__file__).resolve().parents[1] / "fake_agent_scripts"
BASIC = SCRIPTS / "basic.yaml"
SESSION_ID = "12345678-aaaa-bbbb-cccc-1234567890ab"
HEADER = "✻ fake-agent t  (session 12345678)"
IDLE = "? for shortcuts"
BUSY = "esc to interrupt"
MODE_CURSOR_VISIBLE = 25

WaitFor = Callable[..., Awaitable[None]]


@dataclass
class Agent:
    session: TerminalSession
    hook_log: Path
    cwd: Path
    wait_for: WaitFor

    def text(self) -> str:
        return self.session.screen.text()

    def everything(self) -> str:
        return self.session.screen.contents()

    def box(self) -> list[str]:
        """The input box's content rows, without borders and padding."""
        rows = self.text().splitlines()
        top = max(i for i, row in enumerate(rows) if row.startswith("╭"))
        bottom = max(i for i, row in enumerate(rows) if row.startswith("╰"))
        return [row[2:-1].rstrip() for row in rows[top + 1 : bottom]]

    def hooks(self) -> list[dict[str, Any]]:
        return read_jsonl(self.hook_log) if self.hook_log.exists() else []

    def events(self) -> list[str]:
        return [hook["hook_event_name"] for hook in self.hooks()]

    def last(self, event: str) -> dict[str, Any]:
        return [hook for hook in self.hooks() if hook["hook_event_name"] == event][-1]

    async def until(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        await self.wait_for(
            predicate, timeout, message=lambda: f"\nhooks: {self.events()}\n{self.text()}"
        )

    async def until_shown(self, text: str, timeout: float = 5.0) -> None:
        await self.until(lambda: text in self.text(), timeout)

    async def until_event(self, event: str, count: int = 1) -> dict[str, Any]:
        await self.until(lambda: self.events().count(event) >= count)
        return self.last(event)

    async def until_idle(self) -> None:
        await self.until(lambda: IDLE in self.text() and BUSY not in self.text())

    async def submit_typed(self, text: str) -> None:
        self.session.write(text.encode())
        await self.until(lambda: self.box()[0] == f"> {text}")
        self.session.write(b"\r")

    async def until_exit(self) -> int | None:
        await self.until(lambda: self.session.ended)
        assert self.session.exit is not None
        return self.session.exit.exit_code


Spawner = Callable[..., Awaitable[Agent]]


def read_jsonl(path: str | Path) -> list[Any]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def hook_command(log: Path) -> str:
    code = f"import sys; open({str(log)!r}, 'a').write(sys.stdin.read() + '\\n')"
    return shlex.join([sys.executable, "-c", code])


@pytest.fixture
async def spawn(tmp_path: Path, wait_for: WaitFor) -> AsyncIterator[Spawner]:
    sessions: list[TerminalSession] = []

    async def _spawn(
        *args: str,
        script: Path | None = BASIC,
        hooks: bool = True,
        cols: int = 80,
        rows: int = 24,
        ready: bool = True,
    ) -> Agent:
        cwd = tmp_path / "work"
        cwd.mkdir(exist_ok=True)
        hook_log = tmp_path / "hooks.jsonl"
        argv = [sys.executable, "-m", "coder_tui.fake_agent", "--name", "t"]
        argv += ["--session-id", SESSION_ID, "--log", str(tmp_path / "agent.log")]
        if script is not None:
            argv += ["--script", str(script)]
        if hooks:
            argv += ["--hook-command", hook_command(hook_log)]
        session = TerminalSession(
            [*argv, *args],
            cwd=cwd,
            cols=cols,
            rows=rows,
            env={"FAKE_AGENT_STATE_DIR": str(tmp_path / "state")},
        )
        sessions.append(session)
        assert session.start(), session.error
        agent = Agent(session, hook_log, cwd, wait_for)
        if ready:
            await agent.until_shown(IDLE)
            if hooks:
                await agent.until_event("SessionStart")
        return agent

    yield _spawn
    for session in sessions:
        await session.close(grace=0.2)


# --- on a PTY ----------------------------------------------------------------------------


async def test_start_screen_title_modes_and_session_start_hook(spawn: Spawner) -> None:
    agent = await spawn()
    screen = agent.session.screen
    lines = agent.text().splitlines()
    assert lines[0] == HEADER
    assert lines[-1] == IDLE
    assert agent.box() == [">"]
    assert screen.title == "✳ t"
    assert screen.bracketed_paste
    assert not screen.alt_screen
    start = agent.last("SessionStart")
    assert start["source"] == "startup"
    assert start["session_id"] == SESSION_ID
    assert start["agent_name"] == "t"
    assert start["cwd"] == str(agent.cwd)
    assert start["transcript_path"].endswith(f"{SESSION_ID}.jsonl")


async def test_typed_prompt_gets_reply_and_hooks_in_order(spawn: Spawner) -> None:
    agent = await spawn()
    await agent.submit_typed("hello agent")
    stop = await agent.until_event("Stop")
    assert agent.events() == ["SessionStart", "UserPromptSubmit", "Stop"]
    assert agent.last("UserPromptSubmit")["prompt"] == "hello agent"
    assert stop["last_assistant_message"] == "echo: hello agent"
    await agent.until_idle()
    assert "> hello agent" in agent.text()
    assert "⏺ echo: hello agent" in agent.text()
    assert agent.box() == [">"]
    assert read_jsonl(stop["transcript_path"]) == [
        {"role": "user", "text": "hello agent"},
        {"role": "assistant", "text": "echo: hello agent"},
    ]


async def test_rule_match_and_multiline_reply(spawn: Spawner) -> None:
    agent = await spawn()
    await agent.submit_typed("please review my code")
    stop = await agent.until_event("Stop")
    assert stop["last_assistant_message"] == "Looks good.\nVERDICT: APPROVE"
    await agent.until_shown("⏺ Looks good.\n  VERDICT: APPROVE")


async def test_bracketed_paste_is_received_verbatim(spawn: Spawner) -> None:
    agent = await spawn()
    text = "first line\n  indented second\r\nthird: ünïcødé ✓\n\nfifth after a blank"
    agent.session.paste(text)
    await agent.until(lambda: "fifth after a blank" in "\n".join(agent.box()))
    assert agent.box()[:2] == ["> first line", "    indented second"]
    agent.session.write(b"\r")
    submitted = await agent.until_event("UserPromptSubmit")
    expected = text.replace("\r\n", "\n")
    assert submitted["prompt"] == expected
    stop = await agent.until_event("Stop")
    assert stop["last_assistant_message"] == f"echo: {expected}"


async def test_paste_split_across_writes_and_typed_utf8_split(spawn: Spawner) -> None:
    agent = await spawn()
    encoded = "héllo ✓".encode()
    for index in range(len(encoded)):  # one byte per write: splits every character
        agent.session.write(encoded[index : index + 1])
    await agent.until(lambda: agent.box() == ["> héllo ✓"])
    for part in (b"\x1b[20", b"0~ one\r", b"two\x1b[2", b"01~"):
        agent.session.write(part)
    await agent.until(lambda: agent.box() == ["> héllo ✓ one", "  two"])
    agent.session.write(b"\r")
    submitted = await agent.until_event("UserPromptSubmit")
    assert submitted["prompt"] == "héllo ✓ one\ntwo"


async def wait_past(agent: Agent, since: float, seconds: float) -> None:
    """Wait until ``seconds`` have passed since ``since``: a time guard expires by time."""
    await agent.until(lambda: time.monotonic() >= since + seconds)


async def test_paste_enter_guard_newline_mode(spawn: Spawner) -> None:
    agent = await spawn("--paste-enter-guard", "300")
    pasted_at = time.monotonic()
    agent.session.paste("alpha\nbeta")
    agent.session.write(b"\r")  # at once: inside the guard, so a newline like Gemini
    agent.session.write(b"x")
    await agent.until(lambda: agent.box() == ["> alpha", "  beta", "  x"])
    assert "UserPromptSubmit" not in agent.events()
    await wait_past(agent, pasted_at, 0.45)
    agent.session.write(b"\r")
    submitted = await agent.until_event("UserPromptSubmit")
    assert submitted["prompt"] == "alpha\nbeta\nx"


async def test_paste_enter_guard_drop_mode(spawn: Spawner) -> None:
    agent = await spawn("--paste-enter-guard", "300", "--paste-enter-mode", "drop")
    pasted_at = time.monotonic()
    agent.session.paste("alpha\nbeta")
    agent.session.write(b"\r")  # at once: inside the guard, so dropped like Claude
    agent.session.write(b"!")
    await agent.until(lambda: agent.box() == ["> alpha", "  beta!"])
    assert "UserPromptSubmit" not in agent.events()
    await wait_past(agent, pasted_at, 0.45)
    agent.session.write(b"\r")
    submitted = await agent.until_event("UserPromptSubmit")
    assert submitted["prompt"] == "alpha\nbeta!"


async def test_input_while_working_stays_and_enter_queues(spawn: Spawner) -> None:
    agent = await spawn()
    await agent.submit_typed("slow one")
    await agent.until_shown(BUSY)
    assert re.search(r"^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Working… \(\ds · esc to interrupt\)$", agent.text(), re.M)
    assert agent.session.screen.title[0] in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    agent.session.write(b"second")
    await agent.until(lambda: agent.box() == ["> second"])
    assert BUSY in agent.text()  # still the first turn
    agent.session.write(b"\r")
    await agent.until_shown("↳ queued: second")
    assert agent.box() == [">"]
    await agent.until_event("Stop", count=2)
    assert agent.events() == [
        "SessionStart",
        "UserPromptSubmit",
        "Stop",
        "UserPromptSubmit",
        "Stop",
    ]
    prompts = [h["prompt"] for h in agent.hooks() if h["hook_event_name"] == "UserPromptSubmit"]
    replies = [h["last_assistant_message"] for h in agent.hooks() if "last_assistant_message" in h]
    assert prompts == ["slow one", "second"]
    assert replies == ["slow reply to slow one", "echo: second"]
    await agent.until_idle()
    assert "queued" not in agent.text()


async def test_approval_yes_writes_the_file(spawn: Spawner) -> None:
    agent = await spawn()
    await agent.submit_typed("write notes")
    await agent.until_shown("Do you want to create out/notes.txt?")
    text = agent.text()
    assert "❯ 1. Yes" in text
    assert "  2. No, and tell the agent what to do differently (esc)" in text
    assert agent.session.screen.title == "✋ t"
    assert BUSY not in text
    notification = await agent.until_event("Notification")
    assert notification["notification_type"] == "permission_prompt"
    pre = agent.last("PreToolUse")
    assert pre["tool_name"] == "Write"
    assert pre["tool_input"] == {
        "file_path": str(agent.cwd / "out" / "notes.txt"),
        "content": "hello\nworld\n",
    }
    assert not (agent.cwd / "out" / "notes.txt").exists()
    agent.session.write(b"y")
    stop = await agent.until_event("Stop")
    assert stop["last_assistant_message"] == "Wrote the notes."
    assert (agent.cwd / "out" / "notes.txt").read_text() == "hello\nworld\n"
    assert agent.events() == [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "Notification",
        "Stop",
    ]
    await agent.until_idle()
    assert agent.session.screen.title == "✳ t"


@pytest.mark.parametrize("keys", [b"\x1b", b"\x1b[B\r", b"n"], ids=["esc", "down-enter", "n"])
async def test_approval_denied_writes_nothing(spawn: Spawner, keys: bytes) -> None:
    agent = await spawn()
    await agent.submit_typed("write notes")
    await agent.until_event("Notification")
    agent.session.write(keys)
    stop = await agent.until_event("Stop")
    assert stop["last_assistant_message"] == "Edit denied: out/notes.txt"
    assert not (agent.cwd / "out").exists()
    await agent.until_shown("⏺ Edit denied: out/notes.txt")


async def test_auto_approval_writes_without_asking(spawn: Spawner) -> None:
    agent = await spawn("--approval-mode", "auto")
    await agent.submit_typed("write notes")
    await agent.until_event("Stop")
    assert (agent.cwd / "out" / "notes.txt").read_text() == "hello\nworld\n"
    assert "Notification" not in agent.events()
    assert "Do you want to create" not in agent.everything()


async def test_crash_rule_exits_with_code_and_restores_terminal(spawn: Spawner) -> None:
    agent = await spawn()
    screen = agent.session.screen
    assert not screen.mode(MODE_CURSOR_VISIBLE)
    await agent.submit_typed("crash now")
    assert await agent.until_exit() == 3
    assert not screen.bracketed_paste
    assert screen.mode(MODE_CURSOR_VISIBLE)
    assert "Stop" not in agent.events()
    assert "crash rule: exit code 3" in agent.everything()


async def test_hang_rule_until_esc_interrupts(spawn: Spawner) -> None:
    agent = await spawn()
    await agent.submit_typed("hang please")
    await agent.until_shown(BUSY)
    agent.session.write(b"\x1b")
    await agent.until_shown("⏺ Interrupted")
    await agent.until_idle()
    assert "Stop" not in agent.events()
    # The rule had ``times: 1``: the same prompt now gets the default reply.
    await agent.submit_typed("hang again")
    stop = await agent.until_event("Stop")
    assert stop["last_assistant_message"] == "echo: hang again"


async def test_reply_streams_in_chunks(spawn: Spawner) -> None:
    agent = await spawn()
    await agent.submit_typed("stream it")
    await agent.until(lambda: "⏺ Streaming starts" in agent.text() and "DONE" not in agent.text())
    assert BUSY in agent.text()
    stop = await agent.until_event("Stop")
    assert stop["last_assistant_message"].endswith("the end: DONE")
    await agent.until_shown(
        "⏺ Streaming starts here and goes on.\n"
        "  Second line of the streamed reply.\n"
        "  Third and final line, the end: DONE"
    )


async def test_initial_prompt_argument(spawn: Spawner) -> None:
    agent = await spawn("start here")
    stop = await agent.until_event("Stop")
    assert stop["last_assistant_message"] == "echo: start here"
    assert agent.events() == ["SessionStart", "UserPromptSubmit", "Stop"]
    await agent.until_shown("⏺ echo: start here")


async def test_ctrl_c_clears_then_twice_exits(spawn: Spawner) -> None:
    agent = await spawn(hooks=False)
    agent.session.write(b"some draft")
    await agent.until(lambda: agent.box() == ["> some draft"])
    agent.session.write(b"\x03")
    await agent.until(lambda: agent.box() == [">"])
    agent.session.write(b"\x03")
    await agent.until_shown("Press Ctrl-C again to exit")
    agent.session.write(b"\x03")
    assert await agent.until_exit() == 0
    assert not agent.session.screen.bracketed_paste


async def test_resume_shows_history_and_keeps_the_id(spawn: Spawner, tmp_path: Path) -> None:
    resumed = "feedbeef-0000-4000-8000-000000000000"
    transcript = tmp_path / "state" / "sessions" / f"{resumed}.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text(
        json.dumps({"role": "user", "text": "old question"})
        + "\n"
        + json.dumps({"role": "assistant", "text": "old answer"})
        + "\n"
    )
    agent = await spawn("--resume", resumed)
    text = agent.text()
    assert "✻ fake-agent t  (session feedbeef)" in text
    assert "> old question" in text and "⏺ old answer" in text
    assert f"resumed session {resumed}" in text
    start = agent.last("SessionStart")
    assert start["source"] == "resume"
    assert start["session_id"] == resumed


async def test_alt_screen_mode_and_resize(spawn: Spawner) -> None:
    agent = await spawn("--alt-screen", hooks=False)
    screen = agent.session.screen
    assert screen.alt_screen
    await agent.submit_typed("in alt")
    await agent.until_shown("⏺ echo: in alt")
    agent.session.resize(50, 20)
    await agent.until(lambda: "╰" + "─" * 48 + "╯" in agent.text())
    assert agent.text().splitlines()[0] == HEADER
    agent.session.write(b"\x04")
    assert await agent.until_exit() == 0
    assert not screen.alt_screen


async def test_inline_resize_redraws_to_the_new_width(spawn: Spawner) -> None:
    agent = await spawn(hooks=False)
    await agent.submit_typed("before resize")
    await agent.until_shown("⏺ echo: before resize")
    agent.session.resize(40, 24)
    await agent.until(lambda: "╰" + "─" * 38 + "╯" in agent.text())
    text = agent.text()
    assert text.splitlines()[0] == HEADER
    assert "⏺ echo: before resize" in text
    assert "─" * 39 not in text


async def test_without_hook_command_no_hooks_run(spawn: Spawner) -> None:
    agent = await spawn(script=None, hooks=False)
    await agent.submit_typed("plain")
    await agent.until_shown("⏺ echo: plain")
    assert not agent.hook_log.exists()


async def test_failing_hook_is_logged_and_ignored(spawn: Spawner, tmp_path: Path) -> None:
    hook = shlex.join(["sh", "-c", "cat >/dev/null; echo broken >&2; exit 7"])
    agent = await spawn("--hook-command", hook, hooks=False)
    await agent.submit_typed("still works")
    await agent.until_shown("⏺ echo: still works")
    log = tmp_path / "agent.log"
    await agent.until(lambda: "hook Stop: exit code 7: broken" in log.read_text())


# --- script errors ---------------------------------------------------------------------------


def run_with_script(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "coder_tui.fake_agent", "--script", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_script_unknown_field_names_file_line_and_field(tmp_path: Path) -> None:
    result = run_with_script(
        tmp_path, "rules:\n  - match: hi\n    reply: hello\n    wrte: {path: x}\n"
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:4: rules.0.wrte: unknown field" in result.stderr


def test_script_bad_value_and_bad_regex_are_located(tmp_path: Path) -> None:
    result = run_with_script(
        tmp_path,
        "rules:\n  - reply: ok\n  - match: '('\n    delay: soon\n",
    )
    assert result.returncode == 2
    path = tmp_path / "bad.yaml"
    assert f"{path}:3: rules.1.match: Value error, invalid regex" in result.stderr
    assert f"{path}:4: rules.1.delay:" in result.stderr


def test_script_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    result = run_with_script(tmp_path, "rules:\n  - match: [unclosed\n    reply: x\n")
    assert result.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:" in result.stderr
    assert "YAML syntax" in result.stderr


def test_example_script_is_valid() -> None:
    from coder_tui.fake_agent.script import load_script

    script = load_script(BASIC)
    assert any(rule.write is not None for rule in script.rules)


# --- pure parts ------------------------------------------------------------------------------


def test_parser_splits_keys_text_and_pastes() -> None:
    parser = InputParser()
    events = parser.feed(b"ab\x1b[Ac\r\x7f\x1b[200~x\ry\r\nz\x1b[201~\x03")
    assert events == [
        Text("ab"),
        Key("up"),
        Text("c"),
        Key("enter"),
        Key("backspace"),
        Paste("x\ny\nz"),
        Key("ctrl+c"),
    ]


def test_parser_keeps_partial_input_across_reads() -> None:
    parser = InputParser()
    assert parser.feed("é".encode()[:1]) == []
    assert parser.feed("é".encode()[1:]) == [Text("é")]
    assert parser.feed(b"\x1b[200~abc\x1b[20") == []
    assert parser.in_paste
    assert parser.feed(b"1~") == [Paste("abc")]
    assert parser.feed(b"\x1b]11;rgb:0000/0000/0000\x1b\\q") == [Text("q")]


def test_parser_lone_escape_needs_the_timeout() -> None:
    parser = InputParser()
    assert parser.feed(b"\x1b") == []
    assert parser.pending_escape
    assert parser.flush() == [Key("esc")]
    assert not parser.pending_escape
    assert parser.feed(b"\x1b\x1b") == [Key("esc")]
    assert parser.flush() == [Key("esc")]
    assert parser.feed(b"\x1bx") == []  # Alt+x: no binding


def test_runner_first_match_times_and_default() -> None:
    script = Script(
        rules=[Rule(match="^a", reply="A {prompt}", times=1), Rule(match="b", reply="B")],
        default_reply="D {prompt}",
    )
    runner = ScriptRunner(script)
    first = runner.pick("ab")
    assert runner.reply_for(first, "ab") == "A ab"
    assert runner.reply_for(runner.pick("ab"), "ab") == "B"
    assert runner.reply_for(runner.pick("zz"), "zz") == "D zz"


# --- cell widths: the fake agent's against the emulator's ------------------------------------

# (text, cells) as measured in the emulator (Ghostty, grapheme clustering mode 2027 off, its
# default): each code point keeps its own width, zero-width ones join the cell before.
CLUSTERS = [
    ("🇫🇷", 4),  # flag: two regional indicators, 2 cells each
    ("🇫🇷🇩🇪", 8),
    ("🇫", 2),  # a lone regional indicator
    ("🇫🇷🇩", 6),  # an odd one out after a pair
    ("👨\u200d👩\u200d👧", 6),  # ZWJ sequence: 2 + 0 + 2 + 0 + 2
    ("👍🏽", 4),  # skin-tone modifier: 2 + 2
    ("🏽", 2),  # the modifier alone
    ("☺", 1),
    ("☺\ufe0f", 1),  # VS16 does not widen a text-default symbol
    ("❤", 1),
    ("❤\ufe0f", 1),
    ("😀\ufe0e", 2),  # VS15 does not narrow an emoji
    ("1\ufe0f\u20e3", 1),  # keycap: 1 + 0 + 0
    ("e\u0301", 1),  # combining acute accent
    ("中文", 4),
    ("中\u0301", 2),
    ("カタカナ", 8),
    ("한국어", 6),
    ("\u1100\u1161", 2),  # Hangul jamo: leading 2, vowel 0
    ("🏳\ufe0f\u200d🌈", 3),  # rainbow flag: the white flag is a 1-cell symbol
    ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", 2),  # tag sequence
    ("a\u200bb", 2),  # zero width space
    ("a\u00adb", 3),  # soft hyphen: 1 cell here
    ("\u0600", 1),  # prepended concatenation mark: 1, though a format character
    ("\u3164", 0),  # Hangul filler: 0, though East Asian Wide
    ("\U0001fae8", 2),  # Unicode 15 emoji (Python 3.11's unicodedata is Unicode 14)
    ("a\u0897", 1),  # Unicode 16 combining mark
    ("✅⭐🚀", 6),
    ("☃", 1),
]


def emulator_width(text: str) -> int:
    """Columns the cursor moves in the emulator when ``text`` is written at a row's start."""
    from coder_tui.core.emulator import Screen

    with Screen(40, 2, scrollback_lines=0) as screen:
        screen.feed(text.encode())
        return screen.cursor_position[0]


@pytest.mark.parametrize("text, cells", CLUSTERS, ids=[ascii(t) for t, _ in CLUSTERS])
def test_cluster_widths_agree_with_the_emulator(text: str, cells: int) -> None:
    from coder_tui.fake_agent.tui import text_width

    assert emulator_width(text) == cells
    assert text_width(text) == cells


def test_every_code_point_width_agrees_with_the_emulator() -> None:
    from coder_tui.core.cellwidths import char_width
    from coder_tui.core.emulator import Screen

    wrong: list[str] = []
    counts = {0: 0, 1: 0, 2: 0}
    with Screen(8, 2, scrollback_lines=0) as screen:
        for code in range(0x20, 0x110000):
            if 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000:
                continue  # controls (shown as pictures) and surrogates
            screen.feed(b"\x1b[H\x1b[2Ka" + chr(code).encode())
            measured = screen.cursor_position[0] - 1  # after "a", so a 0 is seen too
            counts[measured] += 1
            if char_width(chr(code)) != measured:
                wrong.append(f"U+{code:04X} emulator {measured} fake agent {char_width(chr(code))}")
    assert not wrong, f"{len(wrong)} differ (python -m coder_tui.core.cellwidths): {wrong[:20]}"
    assert counts[0] > 5000 and counts[2] > 150_000  # the sweep did see both kinds


def test_wrapped_rows_fit_the_emulator_rows() -> None:
    """Rows the fake agent wraps to 21 columns each fill one emulator row: no soft wrap."""
    from coder_tui.core.emulator import Screen
    from coder_tui.fake_agent.tui import REPLY_MARK, text_width, wrap

    cols = 21
    line = REPLY_MARK + "".join(text for text, _ in CLUSTERS) + "🇯🇵" * 7 + "x" * 30
    rows = wrap(line, cols)
    assert len(rows) > 5
    assert all(text_width(row) <= cols for row in rows)
    assert any(text_width(row) == cols for row in rows)
    with Screen(cols, len(rows) + 1, scrollback_lines=0) as screen:
        for index, row in enumerate(rows):
            screen.feed(f"\x1b[{index + 1};1H{row}".encode())
            x, y = screen.cursor_position
            # the cursor stays on the row (at its last cell when the row is full)
            assert (x, y) == (min(text_width(row), cols - 1), index), (index, row)
        shown = [screen.row_text(index) for index in range(len(rows))]
    # The emulator keeps every code point but the VS16 of a keycap (a digit base): 1⃣ comes
    # back without it. Its width is the same either way (1 + 0 + 0).
    assert shown == [row.rstrip().replace("1\ufe0f\u20e3", "1\u20e3") for row in rows]
