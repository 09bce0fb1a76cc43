"""Thread-safe rate, latency and counter bookkeeping, and DiagnosticStatus building.

``diagnostic_updater`` is not installable here (docs/ros2.md), so the node publishes
diagnostic_msgs/DiagnosticArray itself. The meters are updated from two threads (the executor
thread receives, the worker thread publishes) and read by the 1 Hz diagnostics timer.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue


class RateMeter:
    """Events per second over a sliding window of ``window_s`` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self._window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.total = 0
        #: Monotonic time of the latest event, None before the first.
        self.last: float | None = None

    def tick(self) -> None:
        now = self._clock()
        with self._lock:
            self._times.append(now)
            self.total += 1
            self.last = now
            self._trim(now)

    def rate(self) -> float:
        """Events per second in the window (0 before two events: a single event has no rate)."""
        now = self._clock()
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], self._times[-1] - self._times[0])
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window_s:
            self._times.popleft()


@dataclass(frozen=True)
class LatencySummary:
    """Milliseconds over the last ``count`` samples."""

    median_ms: float
    p95_ms: float
    max_ms: float
    count: int


class LatencyWindow:
    """The last ``size`` latencies (seconds), summarised as median / p95 / max."""

    def __init__(self, size: int = 300) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)

    def summary(self) -> LatencySummary | None:
        with self._lock:
            samples = np.array(self._samples, dtype=np.float64)
        if samples.size == 0:
            return None
        median, p95 = np.percentile(samples, [50, 95]) * 1e3
        return LatencySummary(float(median), float(p95), float(samples.max() * 1e3), int(samples.size))


class Counters:
    """Named event counts shared between threads; every known name reads 0 before it happens."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = tuple(names)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def increment(self, name: str, amount: int = 1) -> int:
        """Add ``amount`` to ``name`` (one of the known names); returns the new count."""
        if name not in self._names:
            raise KeyError(f"unknown counter {name!r} (known: {', '.join(self._names)})")
        with self._lock:
            self._counts[name] += amount
            return self._counts[name]

    def set(self, name: str, value: int) -> None:
        """Mirror a count kept elsewhere (e.g. by the synchroniser)."""
        if name not in self._names:
            raise KeyError(f"unknown counter {name!r} (known: {', '.join(self._names)})")
        with self._lock:
            self._counts[name] = value

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {name: self._counts[name] for name in self._names}


def make_status(
    name: str, hardware_id: str, level: bytes, message: str, values: Mapping[str, object]
) -> DiagnosticStatus:
    """A DiagnosticStatus with ``values`` formatted as strings (floats to 2 decimals)."""
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[
            KeyValue(key=key, value=f"{value:.2f}" if isinstance(value, float) else str(value))
            for key, value in values.items()
        ],
    )
