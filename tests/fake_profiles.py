"""User profiles for tests: coder-tui's fake agent with a reply script, as a user would add one.

Derived from the built-in `fake` profile, so tests use the same screen rules and hooks as the
demo and differ only in name and script."""

from __future__ import annotations

from pathlib import Path

from coder_tui.core.agents.profile import load_profiles


def write_fake_profile(folder: Path, name: str, script: Path, **changes: object) -> Path:
    base = load_profiles()["fake"]
    profile = base.model_copy(
        update={"name": name, "args": [*base.args, "--script", str(script)], **changes}
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(profile.model_dump_json(indent=2))
    return path
