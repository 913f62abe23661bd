"""The API's JSON schema, made from the protocol's structs (``coder-tui server --schema``,
and ``docs/api.md``, which a test keeps equal to it)."""

from __future__ import annotations

from typing import Any

import msgspec

from coder_tui.server import protocol


def api_schema() -> dict[str, Any]:
    """Client messages, server messages and the shared definitions, with the version."""
    (client, server), components = msgspec.json.schema_components(
        [protocol.ClientMessage, protocol.ServerMessage], ref_template="#/$defs/{name}"
    )
    return {
        "title": "coder-tui server API",
        "protocol_version": protocol.PROTOCOL_VERSION,
        "framing": "4-byte big-endian length, then one MessagePack-encoded message",
        "client_messages": client,
        "server_messages": server,
        "$defs": components,
    }
