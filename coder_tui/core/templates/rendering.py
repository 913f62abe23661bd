"""The one sandboxed jinja2 environment that prompts, gate messages and ``when`` conditions run
in, and the variables a prompt may use.

It is a module of its own so that rendering at run time and the load-time checks
(``checks``) parse with the same environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from coder_tui.core.templates.base import TemplateError


class _Sandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox whose unsafe accesses raise instead of rendering as (chainable) empty.

    ``a.b`` on a mapping looks up the key before the attribute, so a step called ``update`` or
    ``items`` is ``steps.update``, not the dict method; before that step has run, the name of a
    mutating method is undefined (like any other step that has not run), not an error.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
            value = getattr(obj, attribute, None)
            if not attribute.startswith("_") and not self.is_safe_attribute(obj, attribute, value):
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )


SANDBOX = _Sandbox(
    undefined=ChainableUndefined,
    autoescape=False,
    trim_blocks=True,  # a `{% if %}` line leaves no blank line in the prompt
    lstrip_blocks=True,
    keep_trailing_newline=False,
)

PROMPT_VARIABLES = frozenset({"inputs", "steps", "round", "loop", "agent", "channel_guidance"})
ARBITER_VARIABLES = PROMPT_VARIABLES | {"branches"}


@lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    return SANDBOX.from_string(source)


@lru_cache(maxsize=512)
def _compiled_expression(source: str) -> Any:
    return SANDBOX.compile_expression(source, undefined_to_none=False)


def render_prompt(template_text: str, context: Mapping[str, Any]) -> str:
    """Render a prompt (or gate message) in the sandbox, stripped of surrounding blank space.

    Raises TemplateError on any failure (syntax, unsafe access, a call to an undefined name).
    """
    try:
        return str(_compiled(template_text).render(dict(context))).strip()
    except Exception as exc:
        raise TemplateError(f"cannot render the prompt: {exc}") from exc


def eval_condition(expr: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a ``when`` expression in the sandbox (undefined is false).

    Raises TemplateError when it cannot be evaluated.
    """
    try:
        return bool(_compiled_expression(expr)(**context))
    except Exception as exc:
        raise TemplateError(f"cannot evaluate {expr!r}: {exc}") from exc
