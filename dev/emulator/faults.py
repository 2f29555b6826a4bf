"""Fault injection: make chosen requests slow, fail, return broken JSON or an expired token.

A fault matches requests by a regular expression searched in the path (query string
excluded) and optionally by method. Among the matching requests it skips the first
``nth - 1``, then fires on each one with ``probability`` (drawn from its own
``random.Random(seed)``, so runs are repeatable) until it has fired ``times`` times
(``None``: without end).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field


@dataclass
class Fault:
    """One fault rule; ``fired`` counts how often it took effect."""

    path_regex: str = ".*"
    status: int | None = None
    latency_ms: int = 0
    malformed: bool = False
    expire_token: bool = False
    times: int | None = 1
    method: str | None = None
    nth: int = 1
    probability: float = 1.0
    seed: int = 0
    seen: int = 0
    fired: int = 0
    _pattern: re.Pattern = field(init=False, repr=False)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self):
        try:
            self._pattern = re.compile(self.path_regex)
        except re.error as exc:
            raise ValueError(f"fault path_regex {self.path_regex!r} is not a valid regular expression: {exc}") from None
        if self.status is not None and not 400 <= int(self.status) <= 599:
            raise ValueError(f"fault status {self.status} must be an HTTP error status (400..599)")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability {self.probability} must be between 0 and 1")
        if self.nth < 1:
            raise ValueError(f"fault nth {self.nth} must be 1 or more (1 = the first matching request)")
        if not (self.status or self.latency_ms or self.malformed or self.expire_token):
            raise ValueError("a fault needs at least one of status, latency_ms, malformed or expire_token")
        self._random = random.Random(self.seed)  # noqa: S311 - repeatable fault draws

    def exhausted(self) -> bool:
        """Whether the fault has fired as often as it may."""
        return self.times is not None and self.fired >= self.times

    def consider(self, method: str, path: str) -> bool:
        """Count a request against this rule and say whether the fault fires on it."""
        if self.method and self.method.upper() != method:
            return False
        if not self._pattern.search(path):
            return False
        self.seen += 1
        if self.seen < self.nth or self.exhausted():
            return False
        if self.probability < 1.0 and self._random.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict:
        """A JSON-able view (for /_emulator/stats)."""
        return {
            "path_regex": self.path_regex,
            "method": self.method,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "malformed": self.malformed,
            "expire_token": self.expire_token,
            "times": self.times,
            "nth": self.nth,
            "probability": self.probability,
            "seed": self.seed,
            "seen": self.seen,
            "fired": self.fired,
        }


@dataclass
class Effect:
    """What the faults firing on one request add up to."""

    latency_ms: int = 0
    status: int | None = None
    malformed: bool = False
    expire_token: bool = False


class FaultSet:
    """The emulator's fault rules (``emulator.faults``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        path_regex: str = ".*",
        status: int | None = None,
        latency_ms: int = 0,
        malformed: bool = False,
        expire_token: bool = False,
        times: int | None = 1,
        method: str | None = None,
        nth: int = 1,
        probability: float = 1.0,
        seed: int = 0,
    ) -> Fault:
        """Add a rule and return it (its ``fired`` attribute tells how often it struck)."""
        fault = Fault(
            path_regex=path_regex,
            status=status,
            latency_ms=latency_ms,
            malformed=malformed,
            expire_token=expire_token,
            times=times,
            method=method,
            nth=nth,
            probability=probability,
            seed=seed,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._faults.clear()

    def __iter__(self):
        with self._lock:
            return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self._faults)

    def evaluate(self, method: str, path: str) -> Effect | None:
        """Combine the faults that fire on this request (None when none does)."""
        effect = None
        with self._lock:
            for fault in self._faults:
                if not fault.consider(method, path):
                    continue
                effect = effect or Effect()
                effect.latency_ms += fault.latency_ms
                effect.status = effect.status or fault.status
                effect.malformed |= fault.malformed
                effect.expire_token |= fault.expire_token
        return effect
