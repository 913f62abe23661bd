"""What the operator asks of a template while a run goes: the outputs in an agent's reply, the
winner of a vote, which launched agent fills each role, and the rounds each loop has done.

None of it talks to agents or touches files: the operator does, with these answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from coder_tui.core.templates.base import ANY_AGENT, TemplateError
from coder_tui.core.templates.model import Loop, OutputSpec, Template, choice_words


def _choose(value: str, choices: list[str]) -> str | None:
    words = choice_words(value)
    for choice in sorted(choices, key=lambda c: -len(choice_words(c))):
        wanted = choice_words(choice)
        if words[: len(wanted)] == wanted:
            return choice
    return None


_DECORATION = " \t>*_`#-+"


def _after_marker(reply: str, marker: str) -> str | None:
    for line in reversed(reply.splitlines()):
        text = line.strip()
        for candidate in (text, text.lstrip(_DECORATION)):
            if candidate.startswith(marker):
                return candidate[len(marker) :].strip().strip("*_`").strip()
    return None


def extract_outputs(specs: Mapping[str, OutputSpec], reply: str) -> dict[str, str | None]:
    """Take each output from the reply (see OutputSpec); None for those not found."""
    values: dict[str, str | None] = {}
    for name, spec in specs.items():
        value: str | None
        if spec.marker is not None:
            value = _after_marker(reply, spec.marker)
        else:
            match = re.search(spec.regex or "", reply, re.MULTILINE)
            found = match.group(spec.group) if match else None
            value = found.strip() if found is not None else None
        if value is not None and spec.choices is not None:
            value = _choose(value, spec.choices)
        values[name] = value
    return values


def vote(values: Iterable[str | None]) -> str | None:
    """The value held by a strict majority of all votes (None counts as a vote for nothing),
    compared ignoring case and spacing; the first spelling seen is returned. None if none."""
    ballots = list(values)
    tally: dict[str, list[str]] = {}
    for value in ballots:
        if value is not None and value.strip():
            tally.setdefault(" ".join(value.split()).casefold(), []).append(value.strip())
    for spellings in tally.values():
        if len(spellings) * 2 > len(ballots):
            return spellings[0]
    return None


def resolve_roles(
    template: Template, available_agents: Mapping[str, str], taken: Iterable[str] = ()
) -> dict[str, str]:
    """Role -> agent name, from ``available_agents`` (launched and alive: agent name -> profile).

    For each role, the entries of ``prefer`` and then ``fallback`` are tried in order; an entry
    matches an agent of that name or agents with that profile (``"*"``: any agent). Among the
    matches of one entry an agent not yet given a role is chosen first, so two launched agents
    of one profile share the work; otherwise the same agent may fill several roles. Agents in
    ``taken`` already have a role (see ``fill_roles``).
    """
    chosen: dict[str, str] = {}
    busy = set(taken)
    problems: list[str] = []
    for role_name, role in template.roles.items():
        agent = None
        for entry in [*role.prefer, *role.fallback]:
            if entry == ANY_AGENT:
                matches = list(available_agents)
            elif entry in available_agents:
                matches = [entry]
            else:
                matches = [a for a, profile in available_agents.items() if profile == entry]
            if matches:
                unused = [a for a in matches if a not in chosen.values() and a not in busy]
                agent = (unused or matches)[0]
                break
        if agent is None:
            launched = (
                ", ".join(f"{a} ({p})" for a, p in available_agents.items())
                if available_agents
                else "none"
            )
            wanted = ", ".join([*role.prefer, *role.fallback])
            problems.append(f"role {role_name} needs one of [{wanted}]; launched: {launched}")
        else:
            chosen[role_name] = agent
    if problems:
        raise TemplateError("\n".join(problems))
    return chosen


def fill_roles(template: Template, agents: Mapping[str, str]) -> dict[str, str | None]:
    """Role -> the agent that fills it, None where no launched agent can (``agents``: agent
    name -> profile name). The one rule of every run, shown by the picker before it starts:
    an agent named like a role takes it (``--agents reviewer=claude``); the other roles go by
    the template's preferences (``resolve_roles``), each fillable role on its own merits, so a
    role nobody can fill does not hide who fills the others."""
    named = {role: role for role in template.roles if role in agents}
    fillable = {}
    for role, spec in template.roles.items():
        if role in named:
            continue
        try:
            resolve_roles(template.model_copy(update={"roles": {role: spec}}), agents)
        except TemplateError:
            continue
        fillable[role] = spec
    by_preference = (
        resolve_roles(template.model_copy(update={"roles": fillable}), agents, named.values())
        if fillable
        else {}
    )
    return {role: named.get(role) or by_preference.get(role) for role in template.roles}


def assign_roles(template: Template, agents: Mapping[str, str]) -> dict[str, str]:
    """``fill_roles`` for a run that starts now: every role filled, or a TemplateError that
    says which role needs which CLI and what was launched."""
    filled = fill_roles(template, agents)
    unfilled = {role: template.roles[role] for role, agent in filled.items() if agent is None}
    if unfilled:
        resolve_roles(template.model_copy(update={"roles": unfilled}), agents)  # raises
    return {role: agent for role, agent in filled.items() if agent is not None}


class LoopTracker:
    """Counts loop rounds as a run moves from step to step (the contract of Loop).

    Call ``arrive(step_id)`` before running each step; it returns the loop whose limit this
    arrival exceeds (apply its ``on_limit`` instead of running the step), or None. ``rounds``
    (loop name -> current round) is plain data, to persist and pass back on resume.
    """

    def __init__(self, template: Template, rounds: Mapping[str, int] | None = None) -> None:
        self.template = template
        self.rounds: dict[str, int] = dict(rounds or {})

    def arrive(self, step_id: str) -> Loop | None:
        exceeded: Loop | None = None
        innermost_first = sorted(self.template.loops, key=lambda loop: len(loop.steps))
        for loop in innermost_first:
            if step_id not in loop.steps:
                self.rounds.pop(loop.name, None)  # left the loop: its count starts again
            elif loop.head == step_id:
                self.rounds[loop.name] = self.rounds.get(loop.name, 0) + 1
                if self.rounds[loop.name] > loop.max_rounds and exceeded is None:
                    exceeded = loop
        return exceeded

    def round(self, loop_name: str) -> int:
        return self.rounds.get(loop_name, 0)
