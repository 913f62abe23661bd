"""The server's API: every message a client and the server exchange, versioned.

A connection carries frames: a 4-byte big-endian length, then one MessagePack-encoded message
(msgspec structs, tagged by their ``type`` field). The first frame a client sends is ``Hello``;
the server answers ``Welcome``, or ``Refused`` when the protocol versions differ. ``Hello``,
``Welcome`` and ``Refused`` keep their shape in every version, so a mismatch is always one
clear sentence, never a decoding error. ``docs/api.md`` is generated from these structs
(``coder-tui server --schema``).

Requests carry an ``id``; the server answers each with one ``Reply`` of the same id (for
``Send``, ``Receipt`` messages of that id come first). Input (keys, paste, mouse, resize) has
no id and no answer: it is as cheap as typing. Events come after ``Attach`` (one session's
panes, channel, agents and run) or ``Watch`` (status and channel of every session).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgspec

PROTOCOL_VERSION = 1
MAX_FRAME = 32 * 1024 * 1024
_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


class Message(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    """Base of every message on the socket."""


# --- the handshake (stable across versions) -------------------------------------------------------


class Hello(Message, tag="hello"):
    """The client's first frame: its protocol version."""

    version: int
    client: str = ""  # who connects: "tui", "cli", "mcp", "proxy" (shown in the server log)


class Welcome(Message, tag="welcome"):
    """The server takes the connection."""

    version: int
    server_pid: int
    coder_tui: str  # the server's coder-tui version


class Refused(Message, tag="refused"):
    """The server will not talk to this client (another protocol version); ``reason`` says
    what to do."""

    reason: str
    server_version: int = 0


# --- views: what the server tells about sessions, agents and runs ---------------------------------


class AgentView(msgspec.Struct, kw_only=True):
    session: str
    name: str
    profile: str
    status: str  # starting | idle | working | needs-approval | exited
    words: str  # the status as the TUI says it ("idle", "exited with code 1", ...)
    policy: str  # ask | approve-edits | approve-all
    pane: int
    approval: str = ""  # what it asks to be approved, while it asks


class LoopView(msgspec.Struct, array_like=True):
    name: str
    rounds: int
    max_rounds: int


class RunView(msgspec.Struct, kw_only=True):
    run_id: str
    template: str  # "" for a session of agents without a template
    title: str
    status: str  # running | paused | succeeded | failed | cancelled | crashed
    in_progress: bool  # a template run is going on (running or paused)
    started: float
    ended: float | None = None
    step: str | None = None
    step_round: int = 0
    loops: list[LoopView] = msgspec.field(default_factory=list)
    hops: int = 0
    max_hops: int = 0
    paused: bool = False
    waiting_at_gate: bool = False
    outcome: str = ""


class PaneView(msgspec.Struct, kw_only=True):
    pane: int
    label: str
    command_line: str
    agent: str | None = None  # the agent this pane shows, or None for a plain command
    ended: bool = False
    ended_why: str = ""  # how its child ended ("exited with code 0") or why it never started


class SessionView(msgspec.Struct, tag="session", kw_only=True):
    session: str
    cwd: str
    title: str
    created: float
    clients: int
    panes: list[PaneView]
    agents: list[AgentView]
    run: RunView | None = None


# --- requests (client -> server, answered by a Reply with the same id) ----------------------------


class Request(Message):
    id: int


class AgentSpec(msgspec.Struct, kw_only=True):
    name: str
    profile: str
    policy: str = "ask"
    skip_approval: bool = False


class Status(Request, tag="status"):
    """Every session, agent and run: answered with a StatusResult."""


class CreateSession(Request, tag="create"):
    """A new session in ``cwd``: agents (a run folder) and plain commands. ``template`` starts
    a workflow run over the agents. ``env`` is the client's environment: the children get it,
    as if started from the user's shell. ``detached``: the session ends when its run does."""

    cwd: str
    agents: list[AgentSpec] = msgspec.field(default_factory=list)
    commands: list[list[str]] = msgspec.field(default_factory=list)
    template: str = ""
    inputs: dict[str, str] = msgspec.field(default_factory=dict)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    extra_args: dict[str, list[str]] = msgspec.field(default_factory=dict)
    headless: bool = False  # start the agents now, with a start timeout (no pane sizes them)
    detached: bool = False


class ResumeRun(Request, tag="resume-run"):
    """Relaunch a run that stopped (crashed, or left paused) in a new session."""

    run: str
    env: dict[str, str] = msgspec.field(default_factory=dict)
    headless: bool = False
    detached: bool = False


class Attach(Request, tag="attach"):
    """Show ``session``: a SessionView, then its events (frames, channel, agents, run).
    ``sizes``: this client's size of each pane, by pane id."""

    session: str
    sizes: dict[int, tuple[int, int]] = msgspec.field(default_factory=dict)


class Detach(Request, tag="detach"):
    """Stop showing ``session`` (it keeps running)."""

    session: str


class Watch(Request, tag="watch"):
    """Status changes and channel posts of every session, until the connection closes."""


class Say(Request, tag="say"):
    """What the user typed in a session's channel (an @mention goes to that agent)."""

    session: str
    text: str


class Send(Request, tag="send"):
    """Deliver ``text`` to one agent; Receipts follow (queued, submitted, ended, reply)."""

    agent: str  # NAME, or SESSION:NAME when names repeat across sessions
    text: str
    wait: bool = False  # keep the request open until the turn's reply


class RunCommand(Request, tag="run-command"):
    """pause | resume | step | cancel on a run (by run id or session id; "" = the only one)."""

    command: str
    run: str = ""


class AnswerGate(Request, tag="gate"):
    """Approve or reject the human gate a session's run waits at."""

    session: str
    approved: bool


class Approve(Request, tag="approve"):
    """Answer what an agent asks permission for (``approved`` False: deny), with the CLI's
    own keys; ``always``: its "don't ask again" answer where it has one."""

    agent: str
    approved: bool = True
    always: bool = False


class SetPolicy(Request, tag="policy"):
    """An agent's approval policy: ask | approve-edits | approve-all."""

    agent: str
    policy: str


class Restart(Request, tag="restart"):
    """Stop an agent and start it afresh, in a new CLI session, in its pane."""

    agent: str


class StartTemplate(Request, tag="start-template"):
    """Run a workflow template over a session's agents."""

    session: str
    template: str
    inputs: dict[str, str] = msgspec.field(default_factory=dict)


class StopSession(Request, tag="stop-session"):
    """End a session: its agents stopped (a run in flight is left resumable)."""

    session: str


class Shutdown(Request, tag="shutdown"):
    """Stop every session and the server."""


# --- input (client -> server, no answer) ----------------------------------------------------------


class Key(Message, tag="key"):
    """A key for a pane's child; the server encodes it for the child's current modes."""

    pane: int
    key: str  # Textual's key name ("ctrl+c", "up", "a")
    character: str | None = None


class Paste(Message, tag="paste"):
    """Text pasted into a pane (bracketed when the child asked for it)."""

    pane: int
    text: str


class Mouse(Message, tag="mouse"):
    """A mouse event at a pane's cell (sent only while the child tracks the mouse)."""

    pane: int
    button: int
    x: int
    y: int
    press: bool | None = None  # True down, False up, None for motion
    motion: bool = False


class Focus(Message, tag="focus"):
    """The pane got or lost the keys (reported to a child that asked for focus events)."""

    pane: int
    gained: bool


class Resize(Message, tag="resize"):
    """This client's size of a pane; the pane takes the size of the client that typed or
    resized last. A pane's child starts once a client gave its size."""

    pane: int
    cols: int
    rows: int


class Scroll(Message, tag="scroll"):
    """Move a pane's view into its history (negative = up); 0 = back to the bottom."""

    pane: int
    rows: int


# --- answers and events (server -> client) --------------------------------------------------------


class StatusResult(msgspec.Struct, tag="status-result", kw_only=True):
    server_pid: int
    sessions: list[SessionView]


class Created(msgspec.Struct, tag="created", kw_only=True):
    session: str
    run_id: str = ""
    notes: list[str] = msgspec.field(default_factory=list)


class Delivered(msgspec.Struct, tag="delivered", kw_only=True):
    agent: str
    reply: str | None = None  # with wait: the turn's reply


ReplyResult = StatusResult | Created | SessionView | Delivered | None


class Reply(Message, tag="reply"):
    """The answer to the request with the same ``id``."""

    id: int
    ok: bool = True
    error: str = ""
    result: ReplyResult = None


class Receipt(Message, tag="receipt"):
    """How far a Send got: queued, submitted (with its proof), ended, reply."""

    id: int
    stage: str
    detail: str = ""


class StyleDef(msgspec.Struct, array_like=True):
    """One cell style, named by a number the frames use (sent once per client)."""

    id: int
    fg: tuple[int, int, int] | None
    bg: tuple[int, int, int] | None
    flags: int  # bit per attribute, in STYLE_FLAGS order
    underline: int


class WireRun(msgspec.Struct, array_like=True):
    text: str
    style: int
    cells: int


class Frame(Message, tag="frame"):
    """Rows of one pane that changed since the client's last frame (all rows when ``full``),
    with the styles it has not seen yet and where the cursor is."""

    pane: int
    cols: int
    rows: int
    full: bool
    changed: list[tuple[int, list[WireRun]]]
    styles: list[StyleDef] = msgspec.field(default_factory=list)
    cursor: tuple[int, int, bool] | None = None  # x, y, visible (None: off the view)
    title: str = ""
    mouse: bool = False  # the child tracks the mouse (clicks and the wheel go to it)
    at_bottom: bool = True  # the view shows the live screen, not history


class PaneChanged(Message, tag="pane"):
    """A pane started again (an agent restart: a new screen) or its child ended."""

    session: str
    view: PaneView
    reset: bool = False


class AgentChanged(Message, tag="agent"):
    """An agent's status, policy or question changed."""

    view: AgentView


class RunChanged(Message, tag="run"):
    """Where a session's run stands changed (status, step, pause, gate)."""

    session: str
    view: RunView | None


class ChannelPost(Message, tag="post"):
    """A message posted to a session's channel (already on disk)."""

    session: str
    message: dict[str, Any]  # a ChannelMessage, as channel.jsonl holds it


class Notice(Message, tag="notice"):
    """Something to tell the user now; ``kind`` names what happened, for notifications:
    approval | gate | crash | run-ended | info."""

    session: str
    text: str
    severity: str = "information"
    kind: str = "info"


class SessionEnded(Message, tag="session-ended"):
    """The session is over: its agents and commands are stopped."""

    session: str
    why: str = ""


ClientMessage = (
    Hello
    | Status
    | CreateSession
    | ResumeRun
    | Attach
    | Detach
    | Watch
    | Say
    | Send
    | RunCommand
    | AnswerGate
    | Approve
    | SetPolicy
    | Restart
    | StartTemplate
    | StopSession
    | Shutdown
    | Key
    | Paste
    | Mouse
    | Focus
    | Resize
    | Scroll
)
ServerMessage = (
    Welcome
    | Refused
    | Reply
    | Receipt
    | Frame
    | PaneChanged
    | AgentChanged
    | RunChanged
    | ChannelPost
    | Notice
    | SessionEnded
)

_encoder = msgspec.msgpack.Encoder()
client_decoder: msgspec.msgpack.Decoder[ClientMessage] = msgspec.msgpack.Decoder(ClientMessage)
server_decoder: msgspec.msgpack.Decoder[ServerMessage] = msgspec.msgpack.Decoder(ServerMessage)


def encode(message: Message) -> bytes:
    """One frame: length, then the message."""
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next frame's body, or None at a clean end of the stream."""
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("the connection ended inside a frame") from None
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"a frame of {length} bytes is over the limit ({MAX_FRAME})")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("the connection ended inside a frame") from None


def handshake_fields(body: bytes) -> dict[str, Any]:
    """A handshake frame read without the typed decoder: a peer of another version may send
    fields this one does not know, and must still get one clear answer."""
    try:
        value = msgspec.msgpack.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"not a coder-tui frame: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("not a coder-tui frame")
    return value


def version_mismatch(server_version: int, client_version: int) -> str:
    return (
        f"the running coder-tui server speaks protocol {server_version} and this coder-tui "
        f"speaks {client_version}: restart the server (`coder-tui server --stop`, then run "
        "the command again; agents it runs are stopped, their runs can be resumed)"
    )


STYLE_FLAGS = (
    "bold",
    "faint",
    "italic",
    "strikethrough",
    "inverse",
    "blink",
    "invisible",
    "overline",
)
