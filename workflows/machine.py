"""One ``transitions.Machine`` per definition version (and one for its indicator sub-process), built once.

Guards are not given to the library: they are run beforehand so a refusal lists every reason (the library stops
at the first false condition and says nothing). The machine is the authority on which triggers exist from which
state and where they lead; ``auto_transitions=False`` so no ``to_<state>`` shortcut can skip a guard.
"""

from __future__ import annotations

from transitions import Machine, MachineError

from workflows.schema import Transition


class _Token:
    """A throw-away model: the machine moves it from one state to the next and is done with it."""

    state: str


class StateMachine:
    def __init__(self, name: str, states: list[str], initial: str, transitions: list[Transition]) -> None:
        self.name = name
        self._fired: dict[tuple[str, str], str] = {}
        self._machine = Machine(
            model=None,
            states=states,
            initial=initial,
            transitions=[
                {"trigger": t.trigger, "source": t.source, "dest": t.dest if t.dest != "=" else "="}
                for t in transitions
            ],
            auto_transitions=False,
            send_event=False,
            ignore_invalid_triggers=False,
        )
        # The triggers open from a state, asked of the library once like where each leads (``fire``).
        self._triggers: dict[str, tuple[str, ...]] = {}

    def triggers_from(self, state: str) -> list[str]:
        found = self._triggers.get(state)
        if found is None:
            found = self._triggers[state] = tuple(self._machine.get_triggers(state))
        return list(found)

    def fire(self, state: str, trigger: str) -> str:
        """The state after ``trigger`` fires from ``state``; MachineError when it may not fire there. The machine
        has no conditions nor callbacks and never changes once built, so where a trigger leads from a state is
        asked of the library once and remembered (a write, or a batch of thousands, asks again and again)."""
        found = self._fired.get((state, trigger))
        if found is None:
            found = self._fired[(state, trigger)] = self._fire(state, trigger)
        return found

    def _fire(self, state: str, trigger: str) -> str:
        token = _Token()
        self._machine.add_model(token, initial=state)
        try:
            if not token.trigger(trigger):
                raise MachineError(f"{trigger} did not fire from {state}")
            return token.state
        finally:
            self._machine.remove_model(token)


__all__ = ["StateMachine", "MachineError"]
