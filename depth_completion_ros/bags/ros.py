"""rclpy plumbing shared by ``bag play`` and ``bag record``.

A node in its own context that stops cleanly on SIGINT/SIGTERM (a recorder must close its bag;
rclpy's default handler would shut the context down under our feet), message classes from type
names, and QoS translation between bag metadata (``rosbags``) and rclpy. Imported only by the
commands that talk to DDS, so converting and inspecting bags needs no ROS installation.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
import signal
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.duration import Duration
from rclpy.exceptions import InvalidTopicNameException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, LivelinessPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.validate_topic_name import validate_topic_name
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from ..qos import reliability_for
from ..sync import NANOSECONDS
from .storage import BagError

#: History depth when the bag does not say (rclcpp's and rclpy's default).
DEFAULT_DEPTH = 10
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: A ROS 2 message type name as rosidl allows it: package/msg/Name.
_MESSAGE_TYPE = re.compile(r"(?P<package>[a-z][a-z0-9_]*)/msg/(?P<name>[A-Z][A-Za-z0-9]*)")


@contextlib.contextmanager
def ros_node(name: str, stop: threading.Event | None = None) -> Iterator[tuple[Node, threading.Event]]:
    """A node in a private context, and an event set by SIGINT/SIGTERM (or by the caller).

    Signal handlers are installed only on the main thread and restored on exit; the loops of
    play and record poll the event, so Ctrl-C ends them between messages, never mid-write.
    """
    stop = stop or threading.Event()
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    previous: dict[signal.Signals, Any] = {}
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


def check_topic_names(names: Iterable[str]) -> None:
    """Reject a malformed topic name in one line before any node exists (rclpy fails deep in its C layer)."""
    for name in names:
        try:
            validate_topic_name(name)
        except InvalidTopicNameException as exc:
            reason = str(exc).splitlines()[0].removeprefix("Invalid topic name: ").rstrip(":")
            raise BagError(f"{name!r} is not a valid ROS topic name: {reason}") from None


def message_class(msgtype: str) -> type:
    """The rclpy class of the message type ``pkg/msg/Name``, imported only from a ROS interface package.

    Type names come from bags (and the ROS graph), so they are untrusted: importing whatever
    module a name points at would run that module's code (``os/msg/system``, ``antigravity/msg/X``).
    Only a well-formed ROS 2 message type name is considered, and its package is imported only
    when it is on disk as a rosidl-generated interface package (a ``msg`` sub-package next to its
    C type-support library), which :func:`importlib.util.find_spec` tells without importing anything.
    """
    match = _MESSAGE_TYPE.fullmatch(msgtype)
    if match is None:
        raise BagError(f"message type {msgtype!r} is not a ROS 2 message type name (package/msg/Name)")
    package, name = match["package"], match["name"]
    if not _is_interface_package(package):
        raise BagError(
            f"message type {msgtype}: no ROS interface package {package} is installed in this Python environment; "
            f"install it (ros-{package.replace('_', '-')} from PyPI, or source a ROS 2 install that has it)"
        )
    msg_class = getattr(importlib.import_module(f"{package}.msg"), name, None)
    # What every rosidl message class has: a metaclass with __import_type_support__.
    if not isinstance(msg_class, type) or not hasattr(type(msg_class), "__import_type_support__"):
        raise BagError(f"message type {msgtype}: the installed {package} has no message {name}")
    return msg_class


def _is_interface_package(package: str) -> bool:
    try:
        spec = importlib.util.find_spec(package)  # a top-level name: finds, imports nothing
    except (ImportError, ValueError):
        return False
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        folder = Path(location)
        if (folder / "msg" / "__init__.py").is_file() and any(folder.glob(f"{package}_s__rosidl_typesupport_c*")):
            return True
    return False


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
