"""Background tasks whose failure is never silent.

asyncio keeps only a weak reference to a task and drops its exception unless somebody awaits
it: a watcher that crashed would leave an agent's status frozen without a word. ``spawn``
keeps a strong reference (in ``keep``, or the caller's attribute) and hands any exception to
``on_error`` after logging it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def spawn(
    coroutine: Coroutine[Any, Any, T],
    *,
    name: str,
    keep: set[asyncio.Task[Any]] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> asyncio.Task[T]:
    """Run ``coroutine`` as a task named ``name``; a failure is logged and reported."""
    task = asyncio.get_running_loop().create_task(coroutine, name=name)
    if keep is not None:
        keep.add(task)

    def finished(done: asyncio.Task[T]) -> None:
        if keep is not None:
            keep.discard(done)
        if done.cancelled():
            return
        error = done.exception()
        if error is None:
            return
        log.error("task %s failed", name, exc_info=error)
        if on_error is not None:
            try:
                on_error(error)
            except Exception:
                log.exception("reporting the failure of task %s failed", name)

    task.add_done_callback(finished)
    return task
