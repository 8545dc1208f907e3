"""Unreadable inputs as counted, logged skips with a stopping rule: one corrupt image in 100k is skipped, a folder of
missing files stops the run with examples."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class ReadFailures:
    """Counts reads and failed reads in this process and decides when failures are too many.

    Every DataLoader worker has its own copy of the dataset and so its own counters and its own stopping decision,
    which is enough to stop a run. Once ``failures >= min_failures`` and ``failures / attempts >
    max_failure_fraction`` a RuntimeError stops the run; ``max_failure_fraction = 0`` stops at the first failure.
    Each failing ``key`` (an image, a video) is logged once.
    """

    def __init__(self, max_failure_fraction: float = 0.01, min_failures: int = 10) -> None:
        if not 0.0 <= max_failure_fraction <= 1.0:
            raise ValueError(f"max_failure_fraction must be in [0, 1], got {max_failure_fraction}")
        self.max_failure_fraction = float(max_failure_fraction)
        self.min_failures = int(min_failures)
        self.attempts = 0
        self.failures = 0
        self.examples: list[str] = []  # the first few failure messages, for the stop message
        self._logged: set = set()

    def attempt(self) -> None:
        self.attempts += 1

    def record(self, key, err: Exception, what: str = "image reads") -> None:
        """Count a failed read of ``key``; raise RuntimeError past the tolerated fraction, else log it (once per key)."""
        self.failures += 1
        if len(self.examples) < 5:
            self.examples.append(str(err))
        fraction = self.failures / max(self.attempts, 1)
        if self.max_failure_fraction == 0 or (
            self.failures >= self.min_failures and fraction > self.max_failure_fraction
        ):
            raise RuntimeError(
                f"{self.failures} of {self.attempts} {what} failed in this process ({fraction:.1%}, more than "
                f"data.max_failure_fraction={self.max_failure_fraction:g}). Examples: {'; '.join(self.examples)}. "
                "Fix or remove those files, or raise data.max_failure_fraction to tolerate them."
            ) from err
        if key not in self._logged:
            self._logged.add(key)
            log.warning("%s; using the next readable sample instead (%d of %d %s failed in this process)",
                        err, self.failures, self.attempts, what)  # fmt: skip
