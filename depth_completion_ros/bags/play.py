"""``bag play``: publish a bag's messages with their recorded timing, like ``ros2 bag play``.

Messages go out as the serialized CDR stored in the bag (``Publisher.publish(bytes)``): no
deserialization, no numpy, no per-field copies, so a 1920x1080 depth stream costs the player
only the read from disk. With ``clock_hz`` the player also publishes ``/clock`` with the bag's
time, so nodes run with ``use_sim_time:=true`` see the recorded time (and their stamp-based
logic behaves as on the robot).
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader
from rosgraph_msgs.msg import Clock

from ..sync import NANOSECONDS
from .ros import check_topic_names, message_class, profile_from_offers, ros_node
from .storage import BagError, offered_qos, open_bag, require_topics

#: rclcpp's ClockQoS: reliable, keep last 1; matches rclpy's best-effort and rclcpp's reliable /clock readers.
CLOCK_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
#: How long the player waits, after the last message, for reliable subscribers to acknowledge.
DEFAULT_ACK_TIMEOUT_S = 5.0


@dataclass
class PlayReport:
    """What a playback published, per output topic, and whether it ran to the end."""

    published: dict[str, int] = field(default_factory=dict)
    passes: int = 0
    interrupted: bool = False
    unacknowledged: list[str] = field(default_factory=list)

    def format(self) -> str:
        total = sum(self.published.values())
        ending = " (interrupted)" if self.interrupted else ""
        lines = [f"published {total} messages in {self.passes} pass(es){ending}"]
        lines += [f"  {topic}: {count}" for topic, count in sorted(self.published.items())]
        if self.unacknowledged:
            lines.append("not acknowledged by every reliable subscriber: " + ", ".join(self.unacknowledged))
        return "\n".join(lines)


def parse_remaps(remaps: Sequence[str]) -> dict[str, str]:
    """``["OLD:=NEW", ...]`` (the ROS remapping syntax) to a mapping."""
    parsed = {}
    for remap in remaps:
        old, separator, new = remap.partition(":=")
        if not separator or not old or not new:
            raise ValueError(f"remap {remap!r} is not OLD:=NEW")
        parsed[old] = new
    return parsed


class _ClockPublisher:
    """Publishes the bag time on /clock at a fixed wall-clock frequency while playback waits."""

    def __init__(self, node: Node, frequency_hz: float) -> None:
        self._publisher = node.create_publisher(Clock, "/clock", CLOCK_QOS)
        self._period_s = 1.0 / frequency_hz
        self._next_s = 0.0
        self._message = Clock()

    def next_due(self) -> float:
        return self._next_s

    def tick(self, now_s: float, bag_ns: int) -> None:
        """Publish ``bag_ns`` if a period has passed; the first call always publishes."""
        if now_s < self._next_s:
            return
        self._message.clock.sec, self._message.clock.nanosec = divmod(bag_ns, NANOSECONDS)
        self._publisher.publish(self._message)
        self._next_s = max(self._next_s + self._period_s, now_s)

    def restart(self) -> None:
        self._next_s = 0.0


@dataclass(frozen=True)
class _Timeline:
    """One pass's mapping between bag log times and monotonic wall time (the first message plays at once)."""

    first_ns: int
    start_s: float
    rate: float

    def due_s(self, log_ns: int) -> float:
        return self.start_s + (log_ns - self.first_ns) / NANOSECONDS / self.rate

    def bag_ns(self, now_s: float) -> int:
        return self.first_ns + round((now_s - self.start_s) * self.rate * NANOSECONDS)


def _wait_until(log_ns: int, timeline: _Timeline, stop: threading.Event, clock: _ClockPublisher | None) -> bool:
    """Sleep until the message logged at ``log_ns`` is due, ticking /clock meanwhile; False when stopped first.

    /clock never passes ``log_ns``: under sim time, no subscriber sees a message whose time had
    already gone by because the player was a little late publishing it.
    """
    due_s = timeline.due_s(log_ns)
    while not stop.is_set():
        now = time.monotonic()
        if clock is not None:
            clock.tick(now, min(timeline.bag_ns(now), log_ns))
        if now >= due_s:
            return True
        stop.wait(min(due_s, clock.next_due()) - now if clock is not None else due_s - now)
    return False


def _wait_for_subscribers(node: Node, publishers: Mapping[str, Publisher[Any]], stop: threading.Event,
                          minimum: int = 1) -> bool:
    """Block until each of ``publishers`` has ``minimum`` subscribers (so the start of the bag is not
    published into the void); False if stopped first."""
    announced = False
    while not stop.is_set():
        waiting = [topic for topic, publisher in publishers.items() if publisher.get_subscription_count() < minimum]
        if not waiting:
            return True
        if not announced:
            node.get_logger().info(f"waiting for subscribers on {', '.join(sorted(waiting))}")
            announced = True
        stop.wait(0.05)
    return False


def play_bag(
    bag: str | os.PathLike[str],
    *,
    rate: float = 1.0,
    loop: bool = False,
    clock_hz: float | None = None,
    remaps: Mapping[str, str] | None = None,
    topics: Sequence[str] | None = None,
    wait_for_subscribers: bool | Collection[str] = False,
    min_subscribers: int = 1,
    ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
    stop: threading.Event | None = None,
) -> PlayReport:
    """Publish the bag's messages at their recorded log times relative to the first, scaled by ``rate``.

    ``remaps`` renames topics (``{"/camera/depth/image_raw": "/robot/depth"}``), ``topics``
    selects some, ``clock_hz`` publishes /clock. ``wait_for_subscribers`` delays the start until
    every played topic (True) or the named output topics have ``min_subscribers`` subscribers
    (e.g. 2 when a node and a recorder must both see the first message). Each topic is
    published with the QoS its recording offered (:func:`ros.profile_from_offers`). With
    ``loop`` the bag restarts after its last message and /clock jumps back to the start.
    SIGINT/SIGTERM (or ``stop``) end playback between messages.
    """
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if clock_hz is not None and not clock_hz > 0:
        raise ValueError(f"clock frequency must be positive, got {clock_hz} Hz")
    if min_subscribers < 1:
        raise ValueError(f"min_subscribers must be >= 1, got {min_subscribers}")
    remaps = dict(remaps or {})
    check_topic_names(remaps.values())
    report = PlayReport()
    with open_bag(bag) as reader:
        selected = list(topics) if topics else sorted(reader.topics)
        require_topics(reader, selected, bag)
        unknown_remaps = sorted(set(remaps) - set(selected))
        if unknown_remaps:
            raise BagError(f"{bag}: remapped topic(s) {', '.join(unknown_remaps)} are not played "
                           "(not in the bag or not selected)")
        if not any(reader.topics[topic].msgcount for topic in selected):
            # Nothing to wait for between messages: a loop would spin without ever seeing a stop.
            raise BagError(f"{bag}: no messages to play on {', '.join(selected) or 'any topic'}")
        connections = [c for c in reader.connections if c.topic in selected]
        with ros_node("bag_player", stop) as (node, stop_event):
            by_connection = _create_publishers(node, connections, remaps)
            publishers = {name: publisher for name, publisher in by_connection.values()}
            report.published = dict.fromkeys(publishers, 0)
            clock = _ClockPublisher(node, clock_hz) if clock_hz else None
            awaited = _awaited_publishers(publishers, wait_for_subscribers, bag)
            if awaited and not _wait_for_subscribers(node, awaited, stop_event, min_subscribers):
                report.interrupted = True
                return report
            for _ in itertools.count() if loop else range(1):
                if not _play_once(reader, connections, by_connection, rate, clock, stop_event, report):
                    report.interrupted = True
                    return report
            report.unacknowledged = _wait_for_acks(publishers, ack_timeout_s)
    return report


def _create_publishers(
    node: Node, connections: Sequence[Connection], remaps: Mapping[str, str]
) -> dict[int, tuple[str, Publisher[Any]]]:
    """One publisher per output topic, with the QoS offered on the recorded topic; keyed by connection id."""
    publishers: dict[str, Publisher[Any]] = {}
    by_connection = {}
    for connection in connections:
        name = remaps.get(connection.topic, connection.topic)
        if name not in publishers:
            offers = [qos for c in connections if c.topic == connection.topic for qos in offered_qos(c)]
            msg_class = message_class(connection.msgtype)
            publishers[name] = node.create_publisher(msg_class, name, profile_from_offers(offers))
        by_connection[connection.id] = (name, publishers[name])
    return by_connection


def _awaited_publishers(
    publishers: Mapping[str, Publisher[Any]], wait_for_subscribers: bool | Collection[str], bag: str | os.PathLike[str]
) -> dict[str, Publisher[Any]]:
    if wait_for_subscribers is True:
        return dict(publishers)
    if wait_for_subscribers is False:
        return {}
    unknown = sorted(set(wait_for_subscribers) - set(publishers))
    if unknown:
        raise BagError(f"{bag}: cannot wait for subscribers on {', '.join(unknown)}: not a played topic "
                       f"(played: {', '.join(sorted(publishers))})")
    return {topic: publishers[topic] for topic in wait_for_subscribers}


def _play_once(
    reader: Reader,
    connections: Sequence[Connection],
    by_connection: Mapping[int, tuple[str, Publisher[Any]]],
    rate: float,
    clock: _ClockPublisher | None,
    stop: threading.Event,
    report: PlayReport,
) -> bool:
    """One pass over the bag; False when stopped before the end."""
    timeline: _Timeline | None = None
    if clock is not None:
        clock.restart()
    for connection, log_ns, raw in reader.messages(connections=connections):
        if timeline is None:
            timeline = _Timeline(first_ns=log_ns, start_s=time.monotonic(), rate=rate)
        if not _wait_until(log_ns, timeline, stop, clock):
            return False
        name, publisher = by_connection[connection.id]
        publisher.publish(raw)
        report.published[name] += 1
    report.passes += 1
    return True


def _wait_for_acks(publishers: Mapping[str, Publisher[Any]], timeout_s: float) -> list[str]:
    """Let reliable subscribers receive the tail of the bag before the publishers disappear."""
    unacknowledged = []
    for name, publisher in publishers.items():
        if publisher.qos_profile.reliability == ReliabilityPolicy.RELIABLE and not publisher.wait_for_all_acked(
            Duration(seconds=timeout_s)
        ):
            unacknowledged.append(name)
    return unacknowledged
