"""The step graph of a template (``next`` rules, the step that follows, loop limits) and its
check: every cycle must be bounded by a ``loops`` entry whose first step it passes.

Apart from ``checks`` because it is a graph algorithm (Tarjan's components, then the shortest
cycle to report), not a field check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coder_tui.core.templates.base import Issue, Loc

if TYPE_CHECKING:
    from coder_tui.core.templates.model import Loop, Template


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    loc: Loc


def _edges(t: Template) -> list[_Edge]:
    ids = [step.id for step in t.steps]
    edges: list[_Edge] = []
    for i, step in enumerate(t.steps):
        for k, rule in enumerate(step.next or []):
            if rule.goto in ids:
                edges.append(_Edge(step.id, rule.goto, ("steps", i, "next", k, "goto")))
        if step.next is None and i + 1 < len(ids):
            edges.append(_Edge(step.id, ids[i + 1], ("steps", i)))
    for li, loop in enumerate(t.loops):
        if loop.limit_target in ids:
            # The limit fires on a move into the head from inside the loop.
            for edge in list(edges):
                if edge.target == loop.head and edge.source in loop.steps:
                    edges.append(_Edge(edge.source, loop.limit_target, ("loops", li, "on_limit")))
    return edges


def _sccs(nodes_: list[str], edges: list[_Edge]) -> list[list[str]]:
    """Tarjan's strongly connected components, each in document order."""
    members = set(nodes_)
    adjacent: dict[str, list[str]] = {n: [] for n in nodes_}
    for edge in edges:
        if edge.source in members and edge.target in members:
            adjacent[edge.source].append(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in adjacent[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            found.append([n for n in nodes_ if n in component])

    for node in nodes_:
        if node not in index:
            visit(node)
    return found


def check_cycles(t: Template) -> list[Issue]:
    order = {step.id: i for i, step in enumerate(t.steps)}
    edges = _edges(t)
    issues: list[Issue] = []

    def examine(nodes_: list[str]) -> None:
        for component in _sccs(nodes_, edges):
            inside = [e for e in edges if e.source in component and e.target in component]
            if not inside:
                continue  # a single step without a self-edge: no cycle
            members = set(component)
            covering = [loop for loop in t.loops if members <= set(loop.steps)]
            bounded = [loop for loop in covering if loop.head in members]
            if bounded:
                # Cycles through the head are bounded; look at those that avoid it.
                examine([n for n in component if n != bounded[0].head])
            else:
                issues.append(_cycle_issue(component, inside, covering, order))

    examine([step.id for step in t.steps])
    return issues


def _cycle_issue(
    component: list[str], inside: list[_Edge], covering: list[Loop], order: dict[str, int]
) -> Issue:
    # A back edge (to the same or an earlier step) exists on every cycle: report the first.
    back = min(
        (e for e in inside if order[e.target] <= order[e.source]),
        key=lambda e: (order[e.source], order[e.target]),
    )
    # Shortest path from the back edge's target to its source closes the cycle.
    previous: dict[str, str | None] = {back.target: None}
    queue = [back.target]
    while queue and back.source not in previous:
        node = queue.pop(0)
        for edge in inside:
            if edge.source == node and edge.target not in previous:
                previous[edge.target] = node
                queue.append(edge.target)
    path: list[str] = []
    walk: str | None = back.source
    while walk is not None:
        path.append(walk)
        walk = previous.get(walk)
    cycle = " → ".join([*path[::-1], back.target])
    if covering:
        heads = ", ".join(f"{loop.name!r} (first step {loop.head!r})" for loop in covering)
        message = (
            f"the cycle {cycle} never passes the first step of loop {heads}, where rounds are "
            f"counted: list one of [{', '.join(component)}] first, or add a `loops:` entry "
            "for this cycle with max_rounds"
        )
    else:
        message = (
            f"the cycle {cycle} has no limit: add a `loops:` entry with "
            f"steps: [{', '.join(component)}] and max_rounds"
        )
    return Issue(back.loc, message)
