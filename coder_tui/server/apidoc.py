"""docs/api.md: the API's reference, made from the protocol (``python -m
coder_tui.server.apidoc > docs/api.md``; a test keeps the file equal to what this prints)."""

from __future__ import annotations

import json
from typing import Any

from coder_tui.server import protocol
from coder_tui.server.schema import api_schema

INTRO = """\
# The coder-tui server's API

Generated from `coder_tui/server/protocol.py` by `python -m coder_tui.server.apidoc`; do not
edit by hand. Protocol version: **{version}**.

- **Where**: a Unix socket, `coder-tui server` prints it (`$XDG_RUNTIME_DIR/coder-tui/server.sock`,
  or `<CODER_TUI_HOME>/run/server.sock`; a path too long for a socket goes to
  `/tmp/coder-tui-UID/<hash of the state dir>.sock`). The folder is 0700, the socket 0600, and
  the server answers only peers of its own uid (SO_PEERCRED). Remote: `ssh HOST coder-tui
  proxy` is a byte bridge to that host's socket.
- **Frames**: a 4-byte big-endian length, then one MessagePack map. Every message has a
  `type` field naming it.
- **Handshake**: the client's first frame is `hello` with its `version`; the server answers
  `welcome`, or `refused` with a `reason` (another version: one sentence saying to restart the
  server). These three keep their shape in every version.
- **Requests** carry an `id`; the server answers each with one `reply` of that id (`ok`,
  `error`, `result`). `send` is answered by `receipt` messages first (`queued`, `submitted`
  with its proof, `ended`, `reply`).
- **Input** (`key`, `paste`, `mouse`, `focus`, `resize`, `scroll`) has no id and no answer.
- **Events** follow `attach` (one session: `frame`, `pane`, `agent`, `run`, `post`, `notice`,
  `session-ended`) or `watch` (status and posts of every session).
- **Frames of a pane** carry the rows that changed since the client's last frame, as runs of
  `[text, style, cells]`, with the `styles` (`[id, fg, bg, flags, underline]`, flags in the
  order {flags}) the client has not seen yet. A client that reads slowly gets fewer frames,
  each with everything that changed, never a backlog.

## Messages a client sends

{client}

## Messages the server sends

{server}

## The JSON schema

```json
{schema}
```
"""


def _names(union_schema: Any, defs: Any) -> str:
    refs = union_schema.get("anyOf") or union_schema.get("oneOf") or []
    lines = []
    for ref in refs:
        name = str(ref["$ref"]).rsplit("/", 1)[-1]
        definition = defs.get(name, {})
        tag = definition.get("properties", {}).get("type", {}).get("enum", ["?"])[0]
        doc = str(definition.get("description", "")).split("\n\n")[0].replace("\n", " ")
        lines.append(f"- `{tag}` ({name})" + (f": {doc}" if doc else ""))
    return "\n".join(lines)


def api_markdown() -> str:
    schema = api_schema()
    defs = schema["$defs"]
    return INTRO.format(
        version=protocol.PROTOCOL_VERSION,
        flags=", ".join(protocol.STYLE_FLAGS),
        client=_names(schema["client_messages"], defs),
        server=_names(schema["server_messages"], defs),
        schema=json.dumps(schema, indent=2, sort_keys=True),
    )


if __name__ == "__main__":
    print(api_markdown(), end="")
