"""A per-replica circuit breaker: closed → open after N consecutive failures → half-open → closed.

While open, the replica gets no traffic for ``cooldown_s``; then one trial request is let through
(half-open). Its success closes the breaker, its failure opens it for another cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(self, failure_threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic):
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self.state = BreakerState.CLOSED

    def allows(self) -> bool:
        """Whether a request may be sent now; a half-open breaker lets one trial through."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.cooldown_s:
                return False
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def would_allow(self) -> bool:
        """Whether ``allows()`` would let a request through now, without changing any state."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return self._clock() - self._opened_at >= self.cooldown_s
        return not self._trial_in_flight

    def record_success(self) -> None:
        self._failures = 0
        self._trial_in_flight = False
        self.state = BreakerState.CLOSED

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()
