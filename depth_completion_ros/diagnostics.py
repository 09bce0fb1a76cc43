"""The node's diagnostics: thread-safe meters and the object that owns them and reports them.

``diagnostic_updater`` has no pip wheel (the node must also run from a plain virtual
environment), so the node publishes diagnostic_msgs/DiagnosticArray itself.
:class:`NodeDiagnostics` owns every meter: the executor thread counts what it receives, the
worker thread what it publishes, and the 1 Hz timer turns them into two DiagnosticStatus
reports ("inputs" and "completion").
"""
from __future__ import annotations

import math
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


@dataclass(frozen=True)
class InputReport:
    """What the "inputs" report says about one subscription, besides the meters."""

    topic: str
    #: e.g. ``RELIABLE (auto)``: the reliability subscribed with and the QoS mode that chose it.
    qos: str
    #: Messages the middleware reports lost in transport so far.
    lost: int


@dataclass(frozen=True)
class CompletionReport:
    """What the "completion" report says about the completer, besides the meters."""

    requested_method: str
    running_method: str
    description: str
    #: Why the running method is not the requested one ("" when it is).
    fallback: str
    dropped: Mapping[str, int]


class NodeDiagnostics:
    """Owns the node's meters (receive rates, output rate, latency, rejections) and reports them.

    Per input: :meth:`received` on every message. Per output: :meth:`published` with the
    receive-to-publish latency. :meth:`reject` counts a rejected message or frame by reason.
    """

    def __init__(
        self,
        name: str,
        hardware_id: str,
        inputs: Iterable[str],
        reject_reasons: Iterable[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._hardware_id = hardware_id
        self._clock = clock
        self._started = clock()
        self.rejected = Counters(reject_reasons)
        self.rates = {input_name: RateMeter(clock=clock) for input_name in (*inputs, "output")}
        self.latency = LatencyWindow()
        self.frames_published = 0
        #: Times the input stamps jumped back (a looping bag, a restarted driver) and pairing restarted.
        self.stamp_jumps = 0
        self._rejected_at_last_report = self.rejected.snapshot()
        self._lost_at_last_report: dict[str, int] = {}

    def received(self, input_name: str) -> None:
        self.rates[input_name].tick()

    def published(self, latency_s: float) -> None:
        self.latency.add(latency_s)
        self.rates["output"].tick()
        self.frames_published += 1

    def reject(self, reason: str) -> int:
        """Count one rejection; returns how many of this reason so far."""
        return self.rejected.increment(reason)

    def silent_for(self, input_name: str) -> float:
        """Seconds since the input's last message (since start-up before the first)."""
        return self._clock() - (self.rates[input_name].last or self._started)

    def recent_losses(self, lost: Mapping[str, int]) -> str:
        """Messages lost in transport since the previous call, as a warning ("" when none)."""
        recent = increase(self._lost_at_last_report, lost)
        self._lost_at_last_report = dict(lost)
        if not recent:
            return ""
        return (
            f"lost in transport in the last second: {describe_counts(recent)} (best effort loses large "
            f"images under load: prefer reliable publishers and the 'auto' QoS mode)"
        )

    def input_status(self, inputs: Mapping[str, InputReport], problems: Iterable[str]) -> DiagnosticStatus:
        """The "inputs" report: per input its topic, rate, QoS and losses; rejections by reason.

        ``problems`` (silent inputs, losses) and any rejection since the previous report make it WARN.
        """
        values: dict[str, object] = {}
        for input_name, report in inputs.items():
            values[f"{input_name} topic"] = report.topic
            values[f"{input_name} rate (Hz)"] = self.rates[input_name].rate()
            values[f"{input_name} QoS"] = report.qos
            values[f"{input_name} lost in transport"] = report.lost
        rejected = self.rejected.snapshot()
        values.update({f"rejected: {reason}": count for reason, count in rejected.items()})
        values["stamp jumps (restarts)"] = self.stamp_jumps
        recent_rejections = increase(self._rejected_at_last_report, rejected)
        self._rejected_at_last_report = rejected
        problems = list(problems)
        if recent_rejections:
            problems.append(f"rejected in the last second: {describe_counts(recent_rejections)}")
        level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        return make_status(f"{self._name}: inputs", self._hardware_id, level, "; ".join(problems) or "receiving",
                           values)

    def completion_status(self, report: CompletionReport) -> DiagnosticStatus:
        """The "completion" report: method requested and running, output rate, latency, drops."""
        output_rate = self.rates["output"].rate()
        latency = self.latency.summary()
        values: dict[str, object] = {
            "method (requested)": report.requested_method,
            "method (running)": report.running_method,
            "completer": report.description,
            "fallback": report.fallback or "none",
            "output rate (Hz)": output_rate,
            "frames published": self.frames_published,
        }
        if latency is not None:
            values.update({"latency median (ms)": latency.median_ms, "latency p95 (ms)": latency.p95_ms,
                           "latency max (ms)": latency.max_ms})
        values.update({f"dropped: {kind}": count for kind, count in report.dropped.items()})
        if report.fallback:
            level, message = DiagnosticStatus.WARN, report.fallback
        else:
            level = DiagnosticStatus.OK
            message = f"{report.running_method} at {output_rate:.1f} Hz" + (
                f", latency {latency.median_ms:.1f} ms median" if latency is not None else ""
            )
        return make_status(f"{self._name}: completion", self._hardware_id, level, message, values)


class WarningThrottle:
    """Logs each kind of warning at most once per ``period_s`` (safe from any thread)."""

    def __init__(self, log: Callable[[str], object], period_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._period_s = period_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str, text: str) -> None:
        now = self._clock()
        with self._lock:
            if now - self._last.get(key, -math.inf) < self._period_s:
                return
            self._last[key] = now
        self._log(text)


def increase(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """The counts that grew since ``before``, by how much."""
    return {key: count - before.get(key, 0) for key, count in after.items() if count > before.get(key, 0)}


def describe_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in counts.items())
