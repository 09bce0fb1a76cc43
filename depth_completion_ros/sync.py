"""Frame flow policies that keep the node's latency bounded: pairing by stamp and a 1-slot hand-off.

``message_filters`` has no pip wheel (the node also runs from a plain virtual environment), and its
approximate-time policy queues: under load it hands out old sets while new ones wait. Here the
newest matching pair always wins and everything older is dropped (and counted), so a slow
consumer costs frames, never latency. Both classes are plain Python (no rclpy) so the policies
are unit-tested without DDS.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

NANOSECONDS = 1_000_000_000


def stamp_to_ns(stamp: Any) -> int:
    """A builtin_interfaces/Time (rclpy or rosbags) as integer nanoseconds, exact (no float rounding)."""
    return int(stamp.sec) * NANOSECONDS + int(stamp.nanosec)


class StampRejected(ValueError):  # noqa: N818 - a verdict on a message, counted, not a failure
    """A message whose stamp cannot be paired: ``reason`` is ``duplicate_stamp`` or ``out_of_order``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class StampGuard:
    """Stamps of one stream must increase: reject repeats and small regressions, accept big jumps back.

    A jump back by more than ``jump_reset_s`` (a looping bag, a restarted driver) is a new time
    line rather than a late message: ``check`` accepts it and returns True so the caller can
    reset whatever state depends on the old time line.
    """

    def __init__(self, jump_reset_s: float = 1.0) -> None:
        if not jump_reset_s > 0:
            raise ValueError(f"jump_reset_s must be positive, got {jump_reset_s}")
        self._jump_reset_ns = int(jump_reset_s * NANOSECONDS)
        self._last: int | None = None

    def check(self, stamp_ns: int) -> bool:
        """Accept ``stamp_ns`` as the newest stamp, or raise :class:`StampRejected`; True on a time jump."""
        last = self._last
        if last is not None and stamp_ns <= last:
            if stamp_ns == last:
                raise StampRejected("duplicate_stamp", f"stamp {stamp_ns / NANOSECONDS:.9f} s repeats the previous one")
            if last - stamp_ns <= self._jump_reset_ns:
                late_ms = (last - stamp_ns) / 1e6
                message = f"stamp {stamp_ns / NANOSECONDS:.9f} s is {late_ms:.3f} ms older than the previous one"
                raise StampRejected("out_of_order", message)
        self._last = stamp_ns
        return last is not None and stamp_ns < last

    def reset(self) -> None:
        """Forget the stamp history (the next stamp is accepted whatever it is)."""
        self._last = None


@dataclass(frozen=True)
class _Entry(Generic[T]):
    stamp_ns: int
    item: T


class ApproximatePairSync(Generic[T]):
    """Pair two stamped streams (e.g. depth and colour) whose stamps differ by at most ``slop_s``.

    A pair fires as soon as one exists (no waiting for a possibly closer partner: latency
    first). The partner chosen for a new message is the queued one with the closest stamp
    (the newer on a tie). When a pair fires, every queued message not newer than its member
    of the pair is dropped, so an old pair can never be emitted after a newer one. Queues hold
    at most ``queue_size`` unmatched messages per input; overflow drops the oldest.

    Stamps must increase per input: a repeated stamp is rejected as ``duplicate_stamp``, an
    older one as ``out_of_order``. A jump back by more than ``jump_reset_s`` (a looping bag,
    a restarted driver) is taken as a new time line: the queues are cleared and the message
    is accepted. Not thread-safe: call from one thread (the executor's).
    """

    def __init__(self, slop_s: float, queue_size: int, jump_reset_s: float = 1.0) -> None:
        self._queues: tuple[deque[_Entry[T]], deque[_Entry[T]]] = (deque(), deque())
        self._guards = (StampGuard(jump_reset_s), StampGuard(jump_reset_s))
        #: Per input: messages discarded without being part of an emitted pair.
        self.dropped = [0, 0]
        #: Times a backward jump in stamps reset the synchroniser.
        self.time_jumps = 0
        self.slop_s = slop_s
        self.queue_size = queue_size

    @property
    def slop_s(self) -> float:
        return self._slop_ns / NANOSECONDS

    @slop_s.setter
    def slop_s(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"slop must be >= 0 seconds, got {value}")
        self._slop_ns = round(value * NANOSECONDS)

    @property
    def queue_size(self) -> int:
        return self._queue_size

    @queue_size.setter
    def queue_size(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f"queue_size must be >= 1, got {value}")
        self._queue_size = int(value)
        for index, queue in enumerate(self._queues):
            while len(queue) > self._queue_size:
                queue.popleft()
                self.dropped[index] += 1

    def reset(self) -> None:
        """Forget queued messages and stamp history (queued messages count as dropped)."""
        self._drop_queued()
        for guard in self._guards:
            guard.reset()

    def _drop_queued(self) -> None:
        for index, queue in enumerate(self._queues):
            self.dropped[index] += len(queue)
            queue.clear()

    def add(self, index: int, stamp_ns: int, item: T) -> tuple[T, T] | None:
        """Offer a message of input ``index`` (0 or 1); returns the pair (input 0, input 1) it completes.

        Raises :class:`StampRejected` for a duplicate or out-of-order stamp (nothing is queued).
        """
        if index not in (0, 1):
            raise ValueError(f"input index must be 0 or 1, got {index}")
        other = 1 - index
        if self._guards[index].check(stamp_ns):  # a new time line: nothing queued belongs to it
            self.time_jumps += 1
            self._drop_queued()
            self._guards[other].reset()
        partner = self._closest(self._queues[other], stamp_ns)
        if partner is None:
            queue = self._queues[index]
            if len(queue) >= self._queue_size:
                queue.popleft()
                self.dropped[index] += 1
            queue.append(_Entry(stamp_ns, item))
            return None
        self._drop_older(index, stamp_ns)
        self._drop_older(other, partner.stamp_ns)
        self._queues[other].popleft()  # the partner itself
        return (item, partner.item) if index == 0 else (partner.item, item)

    def _closest(self, queue: deque[_Entry[T]], stamp_ns: int) -> _Entry[T] | None:
        best: _Entry[T] | None = None
        for entry in queue:
            gap = abs(entry.stamp_ns - stamp_ns)
            if gap <= self._slop_ns and (best is None or gap <= abs(best.stamp_ns - stamp_ns)):
                best = entry
        return best

    def _drop_older(self, index: int, stamp_ns: int) -> None:
        """Drop the queued messages of ``index`` older than ``stamp_ns``: a newer pair superseded them."""
        queue = self._queues[index]
        while queue and queue[0].stamp_ns < stamp_ns:
            queue.popleft()
            self.dropped[index] += 1


class LatestSlot(Generic[T]):
    """A one-item mailbox between the executor and a worker thread.

    ``put`` replaces an item the worker has not taken yet (counted in ``dropped``): the worker
    always processes the newest frame and the backlog can never exceed one frame.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Offer the newest item; returns True when it replaced one that was never taken."""
        with self._condition:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._condition.notify()
            return replaced

    def get(self, timeout: float | None = None) -> T | None:
        """Take the item, waiting for one; None once closed (or when ``timeout`` seconds pass)."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake every waiting ``get`` (it returns None from now on) so the worker thread can exit."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
