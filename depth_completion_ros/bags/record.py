"""``bag record``: subscribe to topics and write what arrives into a rosbag2 bag, losing nothing on stop.

Subscriptions take serialized messages (``raw=True``), so recording costs no deserialization;
a callback only stamps and enqueues, and a writer thread owns the bag (SQLite connections are
bound to the thread that opened them). Stopping (duration reached, SIGINT, SIGTERM) destroys the
subscriptions, drains the queue, then closes the bag, so the bag is complete up to the last
message received; it appears at its final path only once closed. A recorder killed with SIGKILL
cannot close its bag, so the writer hands what it wrote to the OS at least every
:data:`CHECKPOINT_PERIOD_S` (:func:`checkpoint`), and ``bag repair`` (:mod:`.repair`) turns the
staging folder left behind into a bag holding all but the last moments of the recording.

Lost messages are counted from the DDS "message lost" event, i.e. samples a reliable or
best-effort reader knows it missed; gaps in header stamps are not counted (a camera may skip
frames on its own).
"""
from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile
from rosbags.interfaces import Qos
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.storage_mcap import McapWriter
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

from ..qos import describe_publishers, policy_name, reliability_for
from ..sync import stamp_to_ns
from .ros import check_topic_names, message_class, offer_to_bag, ros_node
from .storage import (
    BAG_VERSION,
    CHECKPOINT_PERIOD_S,
    STAMP_MODES,
    STORAGE_PLUGINS,
    TYPESTORE,
    BagError,
    atomic_directory,
)

#: How often the ROS graph is searched for publishers of topics not yet subscribed.
DISCOVERY_PERIOD_S = 0.5
_SPIN_TIMEOUT_S = 0.1
#: On stop, keep taking messages DDS has already received (and may have acknowledged to the
#: publisher) until none is left, for at most this long.
DRAIN_LIMIT_S = 2.0


@dataclass
class TopicStats:
    """Counts for one recorded topic."""

    msgtype: str = ""
    publishers: int = 0
    received: int = 0
    written: int = 0
    lost: int = 0


@dataclass
class RecordReport:
    """What a recording got, per topic; ``missing`` lists topics no publisher ever appeared on."""

    output: Path
    duration_s: float = 0.0
    topics: dict[str, TopicStats] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def format(self) -> str:
        written = sum(stats.written for stats in self.topics.values())
        lines = [f"recorded {written} messages in {self.duration_s:.1f} s to {self.output}"]
        for topic, stats in sorted(self.topics.items()):
            lines.append(
                f"  {topic} ({stats.msgtype}): received {stats.received}, written {stats.written}, "
                f"lost {stats.lost} (DDS message-lost events), publishers {stats.publishers}"
            )
        lines += [f"  {topic}: no publisher appeared, nothing recorded" for topic in self.missing]
        lines += [f"  {topic}: not recorded: {reason}" for topic, reason in sorted(self.skipped.items())]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Received:
    topic: str
    msgtype: str
    offers: tuple[Qos, ...]
    receive_ns: int
    data: bytes


_DONE = object()


class _BagWriterThread(threading.Thread):
    """Owns the rosbags Writer: opens it, writes every queued message, and closes it when told."""

    def __init__(self, path: Path, storage: str, stamp: str, report: RecordReport) -> None:
        super().__init__(name="bag-writer", daemon=True)
        self.queue: queue.SimpleQueue[_Received | object] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._path = path
        self._storage = storage
        self._stamp = stamp
        self._report = report
        self._connections: dict[str, Any] = {}

    def run(self) -> None:
        try:
            with Writer(self._path, version=BAG_VERSION, storage_plugin=STORAGE_PLUGINS[self._storage]) as writer:
                checkpoint_due: float | None = None  # monotonic time by which written messages go to the OS
                while (item := self._next(checkpoint_due)) is not _DONE:
                    if isinstance(item, _Received):
                        self._write(writer, item)
                        checkpoint_due = checkpoint_due or time.monotonic() + CHECKPOINT_PERIOD_S
                    if checkpoint_due is not None and time.monotonic() >= checkpoint_due:
                        checkpoint(writer)
                        checkpoint_due = None
        except Exception as exc:  # noqa: BLE001 - reported to the main thread, which stops recording
            self.error = exc

    def _next(self, checkpoint_due: float | None) -> _Received | object | None:
        """The next queued item, or None when ``checkpoint_due`` comes first."""
        timeout = None if checkpoint_due is None else max(0.0, checkpoint_due - time.monotonic())
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _write(self, writer: Writer, item: _Received) -> None:
        connection = self._connections.get(item.topic)
        if connection is None:
            connection = writer.add_connection(item.topic, item.msgtype, typestore=TYPESTORE,
                                               offered_qos_profiles=list(item.offers))
            self._connections[item.topic] = connection
        writer.write(connection, self._log_time(item), item.data)
        self._report.topics[item.topic].written += 1

    def _log_time(self, item: _Received) -> int:
        if self._stamp == "header" and _has_header(item.msgtype):
            message: Any = TYPESTORE.deserialize_cdr(item.data, item.msgtype)  # a class built from the bag's definition
            return stamp_to_ns(message.header.stamp)
        return item.receive_ns

    def finish(self) -> None:
        """Write what is queued, close the bag, and re-raise a writing error."""
        self.queue.put(_DONE)
        self.join()
        if self.error is not None:
            raise BagError(f"{self._path.name}: writing the bag failed ({self.error})") from self.error


def checkpoint(writer: Writer) -> None:
    """Hand every message written so far to the OS in a form a killed recorder cannot take back.

    MCAP: close the pending chunk (rosbags closes one by itself only past 1 MiB, so slow topics
    could sit in memory for minutes) and flush it out of Python's buffer. SQLite: commit (rosbags
    commits only when the bag is closed, and a killed process's open transaction is rolled back).
    What this does not cover is the OS itself: without an fsync, a power cut can still lose data.
    """
    storage = writer.storage
    if isinstance(storage, McapWriter):
        if storage.chunk.bio.tell():
            storage.close_chunk()
        storage.bio.flush()
    elif isinstance(storage, Sqlite3Writer):
        storage.conn.commit()
    else:
        raise BagError(f"cannot checkpoint a {type(storage).__name__} bag (rosbags storage API changed?)")


def _has_header(msgtype: str) -> bool:
    fields = TYPESTORE.fielddefs[msgtype][1]
    return bool(fields) and fields[0][0] == "header"


class _Recorder:
    """Subscribes each requested topic once a publisher appears, with QoS matched to the publishers."""

    def __init__(self, node: Node, topics: Sequence[str], writer: _BagWriterThread, report: RecordReport) -> None:
        self._node = node
        self._pending = [node.resolve_topic_name(topic) for topic in topics]
        self._writer = writer
        self._report = report
        self._subscriptions: list[Any] = []

    def discover(self) -> None:
        """Subscribe to every pending topic that now has publishers."""
        for topic in list(self._pending):
            publishers = self._node.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            self._pending.remove(topic)
            msgtype = publishers[0].topic_type
            if msgtype not in TYPESTORE.types:
                self._skip(topic, f"type {msgtype} is unknown to the rosbags ROS 2 Kilted typestore")
                continue
            try:
                msg_class = message_class(msgtype)
            except BagError as exc:
                self._skip(topic, str(exc))
                continue
            self._subscribe(topic, msgtype, msg_class, publishers)

    def _skip(self, topic: str, reason: str) -> None:
        self._report.skipped[topic] = reason
        self._node.get_logger().error(f"{topic}: not recorded: {reason}")

    def _subscribe(self, topic: str, msgtype: str, msg_class: type, publishers: Sequence[Any]) -> None:
        stats = self._report.topics.setdefault(topic, TopicStats(msgtype=msgtype, publishers=len(publishers)))
        offers = tuple(offer_to_bag(p.qos_profile) for p in publishers)
        reliability = reliability_for("auto", (p.qos_profile.reliability for p in publishers))
        latched = all(p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers)
        # KEEP_ALL: a reader never overwrites a message it has not handed to us yet.
        profile = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=reliability,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
        clock = self._node.get_clock()

        def on_message(data: bytes) -> None:
            stats.received += 1
            self._writer.queue.put(_Received(topic, msgtype, offers, clock.now().nanoseconds, data))

        def on_lost(event: Any) -> None:
            stats.lost += event.total_count_change

        self._subscriptions.append(self._node.create_subscription(
            msg_class, topic, on_message, profile, raw=True,
            event_callbacks=SubscriptionEventCallbacks(message_lost=on_lost),
        ))
        self._node.get_logger().info(
            f"recording {topic} ({msgtype}), {policy_name(reliability)}; {describe_publishers(publishers)}"
        )

    def received(self) -> int:
        return sum(stats.received for stats in self._report.topics.values())

    def count_publishers(self) -> None:
        for topic, stats in self._report.topics.items():
            stats.publishers = max(stats.publishers, len(self._node.get_publishers_info_by_topic(topic)))

    def close(self) -> None:
        """Stop receiving; what is already queued is still written."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions.clear()
        self._report.missing = list(self._pending)


def _drain(executor: SingleThreadedExecutor, recorder: _Recorder) -> None:
    """Take the messages already waiting in the subscriptions, so a reliable publisher's
    acknowledged messages are in the bag even when recording stops right after them."""
    deadline = time.monotonic() + DRAIN_LIMIT_S
    while time.monotonic() < deadline:
        before = recorder.received()
        executor.spin_once(timeout_sec=_SPIN_TIMEOUT_S)
        if recorder.received() == before:
            return


def record_bag(
    output: str | os.PathLike[str],
    topics: Sequence[str],
    *,
    storage: str = "mcap",
    duration_s: float | None = None,
    stamp: str = "receive",
    stop: threading.Event | None = None,
) -> RecordReport:
    """Record ``topics`` into a new bag at ``output`` until ``duration_s`` passes or SIGINT/SIGTERM/``stop``.

    ``stamp="receive"`` logs each message at its arrival time on the node's clock (what
    ``ros2 bag record`` does; replay then reproduces the timing the robot saw);
    ``stamp="header"`` logs messages that have a header at their header stamp (replay then
    reproduces the sensor's timing), others at arrival. Topics may appear after the start.
    """
    if not topics:
        raise ValueError("no topics to record")
    check_topic_names(topics)
    if storage not in STORAGE_PLUGINS:
        raise ValueError(f"unknown storage {storage!r} (use one of {', '.join(STORAGE_PLUGINS)})")
    if stamp not in STAMP_MODES:
        raise ValueError(f"unknown stamp mode {stamp!r} (use one of {', '.join(STAMP_MODES)})")
    if duration_s is not None and not duration_s > 0:
        raise ValueError(f"duration must be positive, got {duration_s} s")
    output = Path(output)
    report = RecordReport(output=output)
    with atomic_directory(output) as staged, ros_node("bag_recorder", stop) as (node, stop_event):
        writer = _BagWriterThread(staged, storage, stamp, report)
        writer.start()
        recorder = _Recorder(node, topics, writer, report)
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        start_s = time.monotonic()
        try:
            next_discovery_s = start_s
            while not stop_event.is_set() and writer.error is None:
                now_s = time.monotonic()
                if duration_s is not None and now_s - start_s >= duration_s:
                    break
                if now_s >= next_discovery_s:
                    recorder.discover()
                    recorder.count_publishers()
                    next_discovery_s = now_s + DISCOVERY_PERIOD_S
                executor.spin_once(timeout_sec=_SPIN_TIMEOUT_S)
        finally:
            _drain(executor, recorder)
            recorder.close()
            executor.shutdown()
            report.duration_s = time.monotonic() - start_s
            writer.finish()
    return report

