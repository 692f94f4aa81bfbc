"""How long to wait before retrying a message, and when to give up."""

from __future__ import annotations

import random

import attrs

__all__ = ["RetryPolicy"]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring the provider's ``Retry-After``.

    Attributes:
        max_attempts: Send attempts before a retryable failure becomes final.
        base: Seconds to wait after the first failure.
        cap: The longest wait between attempts.
        jitter: Fraction of the wait drawn at random (0 = none, 0.5 = between 50% and
            100% of the exponential wait), so retries of a batch spread out.
    """

    max_attempts: int = 5
    base: float = 2.0
    cap: float = 300.0
    jitter: float = 0.5

    def delay(
        self, attempts: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after ``attempts`` failed attempts (1 for the first)."""
        wait: float = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        if self.jitter:
            draw = (rng or random).random()
            wait *= 1 - self.jitter * draw
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def gives_up(self, attempts: int) -> bool:
        """Whether ``attempts`` attempts are all this policy allows."""
        return attempts >= self.max_attempts
