"""What approve-edits may approve: tool calls the CLI reported as file edits inside the
working folder, judged from the tool's name and input, never from text a model wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from coder_tui.core.agents.approvals import edited_paths, is_edit_in

CLAUDE = ["Write", "Edit", "MultiEdit", "NotebookEdit"]
CODEX = ["apply_patch"]


def patch(*headers: str) -> str:
    return "*** Begin Patch\n" + "".join(f"*** {h}\n+x\n" for h in headers) + "*** End Patch\n"


@pytest.mark.parametrize(
    ("tool", "tools", "edit"),
    [
        (("Write", {"file_path": "{cwd}/a.py", "content": "x"}), CLAUDE, True),
        (("Edit", {"file_path": "sub/b.py", "old_string": "a", "new_string": "b"}), CLAUDE, True),
        (("Write", {"file_path": "/etc/passwd", "content": "x"}), CLAUDE, False),
        (("Write", {"file_path": "{cwd}/../escape.py", "content": "x"}), CLAUDE, False),
        # A shell command whose description says "Do you want to create" is still a command.
        (
            ("Bash", {"command": "touch x", "description": "Do you want to create x?"}),
            CLAUDE,
            False,
        ),
        (("Write", {"content": "no path"}), CLAUDE, False),
        (("apply_patch", {"command": patch("Update File: {cwd}/calc.py")}), CODEX, True),
        (("apply_patch", patch("Add File: new.py", "Delete File: old.py")), CODEX, True),
        (
            ("apply_patch", {"command": patch("Update File: a.py", "Move to: /tmp/b.py")}),
            CODEX,
            False,
        ),
        (("apply_patch", {"command": "rm -rf /"}), CODEX, False),
        (("shell", {"command": ["bash", "-lc", "echo"]}), CODEX, False),
    ],
)
def test_an_edit_is_a_known_edit_tool_with_every_file_inside_the_folder(
    tmp_path: Path, tool: tuple[str, object], tools: list[str], edit: bool
) -> None:
    name, tool_input = tool

    def fill(value: object) -> object:
        if isinstance(value, str):
            return value.replace("{cwd}", str(tmp_path))
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    assert is_edit_in((name, fill(tool_input)), tools, tmp_path) is edit


def test_paths_come_from_json_text_as_well() -> None:
    """Codex reports a tool input as JSON text in some hooks."""
    assert edited_paths('{"command": "*** Begin Patch\\n*** Add File: x.py\\n"}') == ["x.py"]
    assert edited_paths('{"file_path": "y.py"}') == ["y.py"]
