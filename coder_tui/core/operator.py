"""The operator: runs a workflow template over launched agents.

For each step it renders the prompt (sandboxed jinja2), delivers it to the agent filling the
step's role, waits for the turn's end, posts the reply to the channel, takes the outputs and
picks the next step. Everything it does is written down before it is acted on, so a run killed
at any moment resumes where it was: the channel is the record of replies (posted with keys, so
each appears exactly once), ``run.json`` the record of where the run stands, ``events.jsonl``
the timeline.

Pause stops new deliveries only: agents keep working, replies that arrive are kept and shown.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coder_tui.core.agents.agent import Agent, AgentGone, DeliveryError, TurnHandle
from coder_tui.core.agents.events import AgentStatus
from coder_tui.core.channel import ChannelMessage, MessageKind
from coder_tui.core.faults import crash_point
from coder_tui.core.runs import EventKind, InFlight, RunStatus, RunStore, StepResult
from coder_tui.core.tasks import spawn
from coder_tui.core.templates import (
    LoopTracker,
    Step,
    Template,
    TemplateError,
    Turn,
    extract_outputs,
    render_prompt,
    vote,
)

log = logging.getLogger(__name__)

END, FAIL = "end", "fail"
_REPLY_REFERENCE = re.compile(r"steps\.([a-z][a-z0-9_]*)\.reply")


class _AppLeft(Exception):
    """The app closed during the run (see Operator.leave)."""


class RunFailed(Exception):
    """The run cannot go on; the message says why."""


@dataclass
class StepOutcome:
    reply: str
    outputs: dict[str, str | None]
    agent: str
    extra: dict[str, Any] = field(default_factory=dict)


class Operator:
    """Runs ``template`` over ``agents`` (name -> Agent) with the roles in the run state."""

    def __init__(
        self,
        template: Template,
        store: RunStore,
        agents: dict[str, Agent],
        *,
        restart_agent: Callable[[str], Any] | None = None,
    ) -> None:
        self.template = template
        self.store = store
        self.state = store.state
        self.channel = store.channel
        self.agents = agents
        self.restart_agent = restart_agent
        self._running = asyncio.Event()
        self._running.set()
        self._single_step = False
        self._cancelled = False
        self._leaving = False
        self._gate_answer: asyncio.Future[bool] | None = None
        self._guidance: list[str] = []
        self._listeners: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # --- control -----------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Called after every change of the run's state (for a status widget)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        self.state.updated = time.time()
        self.store.save()
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("operator listener failed")

    def pause(self) -> None:
        if self.paused:
            return
        self._running.clear()
        self.state.status = RunStatus.PAUSED
        self.store.event(EventKind.PAUSED)
        self._note("paused: no new deliveries until resumed")
        self._changed()

    def resume(self) -> None:
        if not self.paused:
            return
        self._single_step = False
        self._running.set()
        self.state.status = RunStatus.RUNNING
        self.store.event(EventKind.RESUMED)
        self._note("resumed")
        self._changed()

    def step_once(self) -> None:
        """While paused: let exactly one delivery through, then pause again."""
        if self.paused:
            self._single_step = True
            self._running.set()

    def leave(self) -> None:
        """The app is closing and stops the agents: the step in flight then ends the run as
        paused (resumable with ``coder-tui resume``), with no failure, retry or restart."""
        self._leaving = True
        self._running.set()  # a paused run wakes up to leave
        if self._gate_answer is not None and not self._gate_answer.done():
            self._gate_answer.set_exception(_AppLeft())

    def cancel(self) -> None:
        self._cancelled = True
        self._running.set()
        if self._gate_answer is not None and not self._gate_answer.done():
            self._gate_answer.cancel()

    def answer_gate(self, approved: bool) -> bool:
        """The user's answer to a human approval gate; False when no gate is waiting."""
        if self._gate_answer is None or self._gate_answer.done():
            return False
        self._gate_answer.set_result(approved)
        return True

    @property
    def waiting_at_gate(self) -> bool:
        return self._gate_answer is not None and not self._gate_answer.done()

    # --- user messages -----------------------------------------------------------------------

    async def user_message(
        self,
        text: str,
        *,
        targets: list[str] | None = None,
        delivered: asyncio.Future[TurnHandle] | None = None,
    ) -> ChannelMessage:
        """A message typed in the channel: ``@agent ...`` goes to that agent now; anything else
        is guidance for the step in progress (it reaches the next prompt). Either resets the
        hop count: a human took part. ``targets`` names the agents outright (``coder-tui
        send``); ``delivered`` then gets the turn the text started, once the CLI took it."""
        if targets is None:
            targets = self.channel.mentions(text, self.agents)
        message = self.channel.post(
            "user", text, kind=MessageKind.USER, targets=targets, step=self.state.current_step
        )
        self.state.hops = 0
        if not targets:
            self._guidance.append(text)
        for name in targets:
            spawn(
                self._direct(name, text, delivered),
                name=f"direct-{name}",
                keep=self._tasks,
                on_error=self._direct_failed(name),
            )
        self._changed()
        return message

    def _direct_failed(self, name: str) -> Callable[[BaseException], None]:
        def report(error: BaseException) -> None:
            self.channel.post(
                "system", f"{name}: internal error: {error!r}", kind=MessageKind.SYSTEM
            )

        return report

    async def _direct(
        self, name: str, text: str, delivered: asyncio.Future[TurnHandle] | None = None
    ) -> None:
        agent = self.agents[name]
        try:
            turn = await agent.deliver(text)
            if delivered is not None and not delivered.done():
                delivered.set_result(turn)
            reply = await turn.reply()
        except (DeliveryError, AgentGone) as exc:
            if delivered is not None and not delivered.done():
                delivered.set_exception(exc)
            self.channel.post("system", f"{name}: {exc}", kind=MessageKind.SYSTEM)
            return
        self.channel.post(name, reply, kind=MessageKind.REPLY, meta={"direct": True})

    # --- the run -----------------------------------------------------------------------------

    async def run(self) -> RunStatus:
        """Run (or resume) until the template ends, fails or is cancelled."""
        state = self.state
        if not self.store.events():
            self.store.event(
                EventKind.RUN_STARTED, template=self.template.name, inputs=state.inputs
            )
        state.status = RunStatus.RUNNING
        self._changed()
        step_id = state.current_step or self.template.first_step_id()
        try:
            while step_id not in (END, FAIL):
                if self._cancelled:
                    return self._finish(RunStatus.CANCELLED, "cancelled by the user")
                step_id = await self._run_one(step_id)
            if step_id == FAIL:
                return self._finish(RunStatus.FAILED, "the template ended in failure")
            return self._finish(RunStatus.SUCCEEDED, "done")
        except RunFailed as exc:
            return self._finish(RunStatus.FAILED, str(exc))
        except _AppLeft:
            return self._left()
        except asyncio.CancelledError:
            # Cancelled while the app closes: the run is left (resumable), not cancelled.
            if self._leaving:
                self._left()
            else:
                self._finish(RunStatus.CANCELLED, "cancelled")
            raise

    def _left(self) -> RunStatus:
        """The app closed mid-run: the run stays resumable, its step still pending."""
        self.state.status = RunStatus.PAUSED
        self.state.outcome = "the app was closed during the run"
        self.state.pid = 0  # released: `coder-tui resume` may take it at once
        self.store.event(EventKind.RUN_LEFT, step=self.state.current_step)
        self._changed()
        return RunStatus.PAUSED

    def _finish(self, status: RunStatus, outcome: str) -> RunStatus:
        state = self.state
        state.status = status
        state.outcome = outcome
        state.ended = time.time()
        state.in_flight = None
        self.store.event(EventKind.RUN_ENDED, status=str(status), outcome=outcome)
        self.channel.post(
            "operator", f"run {status}: {outcome}", kind=MessageKind.OPERATOR, key="run:end"
        )
        self._changed()
        return status

    async def _run_one(self, step_id: str) -> str:
        """One visit of a step; returns the id of the next step."""
        state = self.state
        step = self.template.step(step_id)
        visit = state.in_flight if state.in_flight and state.in_flight.step == step_id else None
        round_ = visit.round if visit else state.step_rounds.get(step_id, 0) + 1
        if visit is None:
            limit_next = self._check_loop(step_id)
            if limit_next is not None:
                return limit_next
            state.step_rounds[step_id] = round_
            state.current_step = step_id
            visit = state.in_flight = InFlight(step=step_id, round=round_)
            self.store.event(EventKind.STEP_STARTED, step=step_id, round=round_)
            self._changed()
        if step.gate is not None:
            outcome = await self._run_gate(step, round_)
        elif step.parallel is not None:
            outcome = await self._run_parallel(step, round_)
        else:
            assert step.role is not None and step.prompt is not None
            outcome = await self._run_prompt(step.id, step.role, step.prompt, step, round_)
        state.step_results[step_id] = StepResult(
            reply=outcome.reply,
            outputs=outcome.outputs,
            round=round_,
            agent=outcome.agent,
            started=visit.started,
            ended=time.time(),
        )
        next_id = self._choose_next(step, outcome)
        for name, value in outcome.outputs.items():
            if value is not None:
                self.channel.post(
                    "operator",
                    f"{step_id}: {name} = {value}",
                    kind=MessageKind.OPERATOR,
                    step=step_id,
                    round=round_,
                    key=f"{step_id}:{round_}:output:{name}",
                )
        self.store.event(
            EventKind.STEP_DONE, step=step_id, round=round_, outputs=outcome.outputs, next=next_id
        )
        state.in_flight = None
        state.current_step = next_id if next_id not in (END, FAIL) else None
        self._changed()
        return next_id

    def _check_loop(self, step_id: str) -> str | None:
        """Count loop rounds as the run arrives at ``step_id`` (rounds of a loop start again once
        the run leaves it); past a loop's limit, follow its on_limit instead of the step."""
        tracker = LoopTracker(self.template, self.state.loop_rounds)
        exceeded = tracker.arrive(step_id)
        for loop in self.template.loops:
            rounds = tracker.round(loop.name)
            if loop.head == step_id and 1 < rounds <= loop.max_rounds:
                self._note(
                    f"{loop.name}: round {rounds} of {loop.max_rounds}",
                    key=f"loop:{loop.name}:{step_id}:{self.state.step_rounds.get(step_id, 0) + 1}",
                )
        self.state.loop_rounds = dict(tracker.rounds)
        if exceeded is None:
            return None
        loop = exceeded
        self.store.event(
            EventKind.LIMIT_REACHED, what=f"loop {loop.name}", max_rounds=loop.max_rounds
        )
        self._note(
            f"{loop.name}: the limit of {loop.max_rounds} rounds is reached ({loop.on_limit})",
            key=f"loop:{loop.name}:limit:{self.state.step_rounds.get(step_id, 0)}",
        )
        if loop.limit_target == END:
            return END
        if loop.limit_target == FAIL:
            raise RunFailed(f"loop {loop.name} reached its limit of {loop.max_rounds} rounds")
        return loop.limit_target

    def _context(self, **extra: Any) -> dict[str, Any]:
        steps = {
            sid: {"reply": r.reply, "outputs": r.outputs, "round": r.round, "agent": r.agent}
            for sid, r in self.state.step_results.items()
        }
        loop = self.template.loop_of(self.state.current_step or "")
        context: dict[str, Any] = {
            "inputs": dict(self.state.inputs),
            "steps": steps,
            "round": self.state.step_rounds.get(self.state.current_step or "", 1),
            "loop": loop.name if loop else None,
            "channel_guidance": "\n".join(self._guidance),
        }
        context.update(extra)
        return context

    def _choose_next(self, step: Step, outcome: StepOutcome) -> str:
        context = self._context(outputs=outcome.outputs, **outcome.extra)
        try:
            return self.template.next_step_id(step.id, context)
        except TemplateError as exc:
            raise RunFailed(str(exc)) from None

    # --- a prompt to one agent --------------------------------------------------------------------

    def _agent_for(self, role: str, exclude: set[str] = frozenset()) -> Agent:  # type: ignore[assignment]
        name = self.state.roles.get(role)
        if name is None or name in exclude or name not in self.agents:
            replacement = self._fallback_agent(role, exclude | ({name} if name else set()))
            if replacement is None:
                raise RunFailed(f"no agent can fill the role {role!r}")
            self.state.roles[role] = replacement
            self._note(
                f"role {role} is now filled by {replacement}", key=f"role:{role}:{replacement}"
            )
            name = replacement
        return self.agents[name]

    def _fallback_agent(self, role: str, exclude: set[str]) -> str | None:
        spec = self.template.roles[role]
        alive = {
            name: agent.profile.name
            for name, agent in self.agents.items()
            if name not in exclude and agent.status is not AgentStatus.EXITED
        }
        for profile in [*spec.prefer, *spec.fallback]:
            for name, agent_profile in alive.items():
                if agent_profile == profile:
                    return name
        return None

    async def _run_prompt(
        self,
        key: str,
        role: str,
        prompt_text: str,
        spec: Turn | Step,
        round_: int,
        extra: dict[str, Any] | None = None,
    ) -> StepOutcome:
        """Deliver a rendered prompt and take the reply, exactly once across crashes: a reply
        already in the channel for this step and round is used as is, and every channel post
        carries a key, so a resumed run never posts it twice."""
        reply_key = f"{key}:{round_}:reply"
        recorded = self.channel.find(reply_key)
        if recorded is not None:
            return StepOutcome(
                recorded.text, extract_outputs(spec.outputs, recorded.text), recorded.author
            )
        agent = self._not_own_reply(self._agent_for(role), role, prompt_text, key)
        tried: set[str] = set()
        attempt = 0
        retries_left = spec.retries
        while True:
            attempt += 1
            prompt = render_prompt(prompt_text, self._context(agent=agent.name, **(extra or {})))
            self.channel.post(
                "operator",
                prompt,
                kind=MessageKind.PROMPT,
                targets=[agent.name],
                step=key,
                round=round_,
                key=f"{key}:{round_}:prompt:{attempt}",
            )
            try:
                reply = await self._deliver_and_wait(agent, key, round_, prompt, spec.timeout)
            except (DeliveryError, AgentGone, TimeoutError) as exc:
                if self._leaving:
                    raise _AppLeft from exc  # the app stopped the agent: not a failure
                reason = str(exc) or f"no reply within {spec.timeout:.0f} s"
                self.store.event(
                    EventKind.STEP_ATTEMPT_FAILED,
                    step=key,
                    round=round_,
                    agent=agent.name,
                    error=reason,
                )
                self.channel.post(
                    "system",
                    f"{key}: {agent.name} failed: {reason}",
                    kind=MessageKind.SYSTEM,
                    step=key,
                    round=round_,
                    key=f"{key}:{round_}:failed:{attempt}",
                )
                tried.add(agent.name)
                if retries_left > 0:
                    retries_left -= 1
                    if agent.status is AgentStatus.EXITED and self.restart_agent is not None:
                        agent = await self._restart(agent.name)
                    continue
                if spec.on_failure == "fallback":
                    replacement = self._fallback_agent(role, tried)
                    if replacement is not None:
                        self.state.roles[role] = replacement
                        self._note(
                            f"{key}: handing over to {replacement}",
                            key=f"{key}:{round_}:handover:{replacement}",
                        )
                        agent = self.agents[replacement]
                        continue
                if spec.on_failure == "skip":
                    self._note(f"{key}: skipped after the failure", key=f"{key}:{round_}:skipped")
                    return StepOutcome("", dict.fromkeys(spec.outputs), agent.name)
                raise RunFailed(f"step {key}: {agent.name} failed: {reason}") from None
            message = self.channel.post(
                agent.name, reply, kind=MessageKind.REPLY, step=key, round=round_, key=reply_key
            )
            crash_point("reply_posted")
            return StepOutcome(
                message.text, extract_outputs(spec.outputs, message.text), agent.name
            )

    def _not_own_reply(self, agent: Agent, role: str, prompt_text: str, key: str) -> Agent:
        """An agent must not be handed a prompt that quotes its own reply (it would review its
        own work or talk to itself) unless the template allows it: another agent for the role
        takes the step, or the run stops saying how to fix it."""
        if self.template.allow_self_review:
            return agent
        quoted = set(_REPLY_REFERENCE.findall(prompt_text))
        own = sorted(
            step_id
            for step_id in quoted
            if (result := self.state.step_results.get(step_id)) and result.agent == agent.name
        )
        if not own:
            return agent
        authors = {a for step_id in quoted if (a := self._author(step_id)) is not None}
        other = self._fallback_agent(role, {agent.name} | authors)
        if other is None:
            raise RunFailed(
                f"step {key} would send {agent.name} its own reply ({', '.join(own)}): launch "
                f"another agent for the role {role!r}, or set allow_self_review: true in the "
                "template"
            )
        self._note(f"{key}: {other} takes it, not {agent.name} (it wrote {', '.join(own)})")
        return self.agents[other]

    def _author(self, step_id: str) -> str | None:
        result = self.state.step_results.get(step_id)
        return result.agent if result else None

    async def _restart(self, name: str) -> Agent:
        assert self.restart_agent is not None
        result = self.restart_agent(name)
        if asyncio.iscoroutine(result):
            result = await result
        self.agents[name] = result
        return result  # type: ignore[no-any-return]

    async def _deliver_and_wait(
        self, agent: Agent, key: str, round_: int, prompt: str, within: float
    ) -> str:
        await self._wait_until_running()
        state = self.state
        if state.hops >= self.template.limits.max_hops:
            self.store.event(
                EventKind.LIMIT_REACHED, what="hops", max_hops=self.template.limits.max_hops
            )
            raise RunFailed(
                f"hop limit reached: {self.template.limits.max_hops} deliveries without a human "
                "message (say something in the channel to let it go on)"
            )
        turn = await agent.deliver(prompt)  # waits until the agent is ready, under its lock
        state.hops += 1
        state.counters[f"turns:{agent.name}"] = state.counters.get(f"turns:{agent.name}", 0) + 1
        self.store.event(
            EventKind.DELIVERED,
            step=key,
            round=round_,
            agent=agent.name,
            proof=turn.proof.how,
            presses=turn.proof.enter_presses,
        )
        crash_point("delivered")
        self._guidance.clear()
        self._changed()
        if self._single_step:
            self._single_step = False
            self._running.clear()  # one step let through; paused again
        reply = await turn.reply(within)
        self.store.event(
            EventKind.TURN_ENDED, step=key, round=round_, agent=agent.name, reply_len=len(reply)
        )
        return reply

    async def _wait_until_running(self) -> None:
        if not self._running.is_set():
            self.store.event(EventKind.WAITING_WHILE_PAUSED)
        await self._running.wait()
        if self._leaving:
            raise _AppLeft
        if self._cancelled:
            raise RunFailed("cancelled by the user")

    # --- parallel groups and gates --------------------------------------------------------------

    async def _run_parallel(self, step: Step, round_: int) -> StepOutcome:
        group = step.parallel
        assert group is not None
        tasks = {
            branch.id: asyncio.create_task(
                self._run_prompt(
                    f"{step.id}.{branch.id}", branch.role, branch.prompt, branch, round_
                ),
                name=f"branch-{branch.id}",
            )
            for branch in group.branches
        }
        results: dict[str, StepOutcome] = {}
        if group.join == "first":
            done, pending = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for branch_id, task in tasks.items():
                if task in done:
                    results[branch_id] = task.result()
        else:
            outcomes = await asyncio.gather(*tasks.values())
            results = dict(zip(tasks, outcomes, strict=True))
        for branch_id, outcome in results.items():
            self.state.step_results[branch_id] = StepResult(
                reply=outcome.reply,
                outputs=outcome.outputs,
                round=round_,
                agent=outcome.agent,
                started=time.time(),
                ended=time.time(),
            )
        branches = {
            bid: {"reply": o.reply, "outputs": o.outputs, "agent": o.agent}
            for bid, o in results.items()
        }
        joined = "\n\n".join(f"[{bid}] {o.reply}" for bid, o in results.items())
        if group.join == "vote" and group.vote_output:
            ballots = [o.outputs.get(group.vote_output) for o in results.values()]
            winner = vote(ballots)  # a strict majority, ignoring case and spacing; else None
            same = " ".join((winner or "").split()).casefold()
            count = sum(1 for b in ballots if b and " ".join(b.split()).casefold() == same)
            self._note(
                f"{step.id}: vote on {group.vote_output}: {ballots} -> "
                + (winner if winner is not None else "no majority"),
                key=f"{step.id}:{round_}:vote",
            )
            outputs: dict[str, str | None] = {group.vote_output: winner, "votes": str(count)}
            return StepOutcome(joined, outputs, "vote", {"branches": branches})
        if group.join == "arbiter" and group.arbiter is not None:
            arbiter = group.arbiter
            prompt_text = arbiter.prompt
            outcome = await self._run_prompt(
                f"{step.id}.arbiter",
                arbiter.role,
                prompt_text,
                arbiter,
                round_,
                extra={"branches": branches},
            )
            outcome.extra["branches"] = branches
            return outcome
        merged: dict[str, str | None] = {}
        for bid, o in results.items():
            for name, value in o.outputs.items():
                merged[f"{bid}.{name}"] = value
        return StepOutcome(joined, merged, "all", {"branches": branches})

    async def _run_gate(self, step: Step, round_: int) -> StepOutcome:
        gate = step.gate
        assert gate is not None
        message = render_prompt(gate.message, self._context())
        key = f"{step.id}:{round_}:gate"
        answered = self.channel.find(f"{key}:answer")
        if answered is None:
            self.channel.post(
                "operator",
                f"waiting for your approval: {message}",
                kind=MessageKind.OPERATOR,
                step=step.id,
                round=round_,
                key=key,
            )
            self.store.event(EventKind.GATE_WAITING, step=step.id, round=round_)
            self._gate_answer = asyncio.get_running_loop().create_future()
            self._changed()
            try:
                approved = await self._gate_answer
            except asyncio.CancelledError:
                raise RunFailed("cancelled at a gate") from None
            finally:
                self._gate_answer = None
            answered = self.channel.post(
                "user",
                "approved" if approved else "rejected",
                kind=MessageKind.USER,
                step=step.id,
                round=round_,
                key=f"{key}:answer",
                meta={"approved": approved},
            )
            self.store.event(EventKind.GATE_ANSWERED, step=step.id, approved=approved)
            self.state.hops = 0
        approved = bool(answered.meta.get("approved"))
        return StepOutcome(
            answered.text,
            {"approved": "yes" if approved else "no"},
            "user",
            {"gate": {"approved": approved}},
        )

    def _note(self, text: str, *, key: str | None = None) -> None:
        """An operator note in the channel; notes a resumed run could repeat carry a key."""
        self.channel.post(
            "operator", text, kind=MessageKind.OPERATOR, step=self.state.current_step, key=key
        )
