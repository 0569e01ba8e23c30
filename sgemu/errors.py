"""The two kinds of failure a user sees as one line: bad input (exit 2) and a missing capability (exit 3)."""

from .schema import ScenarioError


class CapabilityError(RuntimeError):
    """This machine cannot do what was asked (not root, no netem, no FRR); the message says what to do."""


__all__ = ["ScenarioError", "CapabilityError"]
