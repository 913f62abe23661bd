"""What every module of the templates package shares: the error raised when a template cannot
be used as asked, the reserved ``goto`` targets, and a problem located by its field path.

They live apart so that the other modules can depend on them without depending on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

END = "end"  # goto target: finish the run successfully
FAIL = "fail"  # goto target: finish the run as failed
ANY_AGENT = "*"  # in a role's fallback: any launched agent


class TemplateError(Exception):
    """A template cannot be used as asked: a role nobody can fill, a prompt that fails to render,
    a missing input. (Problems in a template *file* are ConfigError, with file and line.)"""


Loc = tuple[str | int, ...]  # a field path: ("steps", 0, "next", 1, "goto")


@dataclass(frozen=True)
class Issue:
    """A problem the cross-field checks found, located by its field path (the loader turns it
    into ``file:line: field: message``)."""

    loc: Loc
    message: str
    template_line: int | None = None  # 1-based line inside a jinja2 template text

    def __str__(self) -> str:
        return f"{'.'.join(map(str, self.loc))}: {self.message}"
