"""rclpy plumbing shared by ``bag play`` and ``bag record``.

A node in its own context that stops cleanly on SIGINT/SIGTERM (a recorder must close its bag;
rclpy's default handler would shut the context down under our feet), message classes from type
names, and QoS translation between bag metadata (``rosbags``) and rclpy. Imported only by the
commands that talk to DDS, so converting and inspecting bags needs no ROS installation.
"""
from __future__ import annotations

import contextlib
import importlib
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, LivelinessPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from ..qos import reliability_for
from ..sync import NANOSECONDS
from .storage import BagError

#: History depth when the bag does not say (rclcpp's and rclpy's default).
DEFAULT_DEPTH = 10
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def ros_node(name: str, stop: threading.Event | None = None) -> Iterator[tuple[Node, threading.Event]]:
    """A node in a private context, and an event set by SIGINT/SIGTERM (or by the caller).

    Signal handlers are installed only on the main thread and restored on exit; the loops of
    play and record poll the event, so Ctrl-C ends them between messages, never mid-write.
    """
    stop = stop or threading.Event()
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in _STOP_SIGNALS:
            previous[signum] = signal.signal(signum, lambda _signum, _frame: stop.set())
    try:
        node = Node(name, context=context)
        try:
            yield node, stop
        finally:
            node.destroy_node()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        context.try_shutdown()


def message_class(msgtype: str) -> type:
    """The rclpy message class of ``pkg/msg/Name``, or a BagError naming the package to install."""
    package, _, name = msgtype.rpartition("/")
    try:
        return getattr(importlib.import_module(package.replace("/", ".")), name)
    except (ImportError, AttributeError, ValueError):
        ros_package = package.split("/")[0]
        raise BagError(
            f"message type {msgtype} is not importable in this Python environment; install its package "
            f"(ros-{ros_package.replace('_', '-')} from PyPI, or source a ROS 2 install that has {ros_package})"
        ) from None


def profile_from_offers(offers: Sequence[Qos]) -> QoSProfile:
    """The QoS to replay a recorded topic with, from the profiles its publishers offered.

    Replay offers what the robot's publishers offered, so subscribers match (or fail to match)
    as they would on the robot: reliable only when every offer was, transient-local only when
    every offer was (latched topics such as /tf_static). A bag without QoS metadata replays
    reliable, which is what camera drivers offer.
    """
    if not offers:
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=DEFAULT_DEPTH, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    reliability = reliability_for("auto", (ReliabilityPolicy(offer.reliability.value) for offer in offers))
    latched = all(offer.durability == QosDurability.TRANSIENT_LOCAL for offer in offers)
    depth = max(offer.depth for offer in offers)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth if depth > 0 else DEFAULT_DEPTH,
        reliability=reliability,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def _qos_time(duration: Duration) -> QosTime:
    return QosTime(sec=duration.nanoseconds // NANOSECONDS, nsec=duration.nanoseconds % NANOSECONDS)


def offer_to_bag(profile: QoSProfile) -> Qos:
    """A publisher's offered QoS (from the ROS graph) as bag metadata, as ``ros2 bag record`` stores it."""
    return Qos(
        history=QosHistory(HistoryPolicy(profile.history).value),
        depth=profile.depth,
        reliability=QosReliability(ReliabilityPolicy(profile.reliability).value),
        durability=QosDurability(DurabilityPolicy(profile.durability).value),
        deadline=_qos_time(profile.deadline),
        lifespan=_qos_time(profile.lifespan),
        liveliness=QosLiveliness(LivelinessPolicy(profile.liveliness).value),
        liveliness_lease_duration=_qos_time(profile.liveliness_lease_duration),
        avoid_ros_namespace_conventions=profile.avoid_ros_namespace_conventions,
    )
