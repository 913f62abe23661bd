"""The fake agent's script: which reply (and which side effect) a prompt gets.

A YAML file with ``rules`` (first match wins) and a ``default_reply``; unknown fields are
errors, and every error names the file, the line and the field (via
:mod:`coder_tui.core.yamlfile`, which maps pydantic locations back to YAML nodes).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coder_tui.core.yamlfile import ConfigError, load_yaml_model

__all__ = ["ConfigError", "Rule", "Script", "ScriptRunner", "WriteAction", "load_script"]

DEFAULT_REPLY = "echo: {prompt}"
DEFAULT_DELAY = 0.2
DEFAULT_CHUNK_DELAY = 0.01


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WriteAction(_Strict):
    """A file the turn creates (relative to the agent's cwd); asks for approval in ask mode."""

    path: str = Field(min_length=1)
    content: str = ""


class Rule(_Strict):
    match: str | None = None  # re.search with DOTALL on the prompt; None matches anything
    reply: str | None = None  # None: the script's default_reply; "{prompt}" is replaced
    delay: float = Field(default=DEFAULT_DELAY, ge=0)
    chunk_delay: float = Field(default=DEFAULT_CHUNK_DELAY, ge=0)
    write: WriteAction | None = None
    crash: int | None = Field(default=None, ge=0, le=255)
    hang: bool = False
    times: int | None = Field(default=None, ge=1)

    @field_validator("match")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern, re.DOTALL)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        return pattern

    def matches(self, prompt: str) -> bool:
        return self.match is None or re.search(self.match, prompt, re.DOTALL) is not None


class Script(_Strict):
    rules: list[Rule] = Field(default_factory=list)
    default_reply: str = DEFAULT_REPLY


def load_script(path: Path) -> Script:
    """Read and validate a script; raises ConfigError ("FILE:LINE: field: message" lines)."""
    return load_yaml_model(path, Script)


class ScriptRunner:
    """Picks the rule for each prompt and counts uses for ``times``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._uses = [0] * len(script.rules)

    def pick(self, prompt: str) -> Rule:
        """The first rule that matches and is not used up, else the default reply."""
        for index, rule in enumerate(self.script.rules):
            if rule.times is not None and self._uses[index] >= rule.times:
                continue
            if rule.matches(prompt):
                self._uses[index] += 1
                return rule
        return Rule(reply=self.script.default_reply)

    def replay(self, answered_prompts: list[str]) -> None:
        """On --resume: pick again for each earlier prompt that got a reply, so ``times`` counts
        carry over the way a real CLI's resumed session remembers the conversation."""
        for prompt in answered_prompts:
            self.pick(prompt)

    def reply_for(self, rule: Rule, prompt: str) -> str:
        template = rule.reply if rule.reply is not None else self.script.default_reply
        return template.replace("{prompt}", prompt)
