"""Helpers for tests that talk over real DDS (rclpy + Fast DDS on loopback).

Each test module gets its own rclpy context and a background executor; each test puts its nodes
in a fresh namespace so tests never hear each other's topics. ``ROS_DOMAIN_ID`` is normally set
per run by scripts/test.sh; when it is not, a random one is picked here so two runs on one host
(or a developer's ROS graph) do not cross-talk.
"""
from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from depth_completion_ros.geometry import CameraIntrinsics
from depth_completion_ros.ros_image import color_to_buffer, depth_to_buffer, fill_image_msg
from depth_completion_ros.sync import NANOSECONDS

_namespaces = itertools.count()


def isolate_ros_network() -> None:
    """Keep DDS traffic on this host and, unless a domain is set, in a random domain (call before init)."""
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(100, 199)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@contextmanager
def ros_context() -> Iterator[Context]:
    """An initialised rclpy context of its own, shut down on exit."""
    isolate_ros_network()
    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


class BackgroundExecutor:
    """A SingleThreadedExecutor spinning on a daemon thread; nodes are added and removed live."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self._executor = SingleThreadedExecutor(context=context)
        self._thread = threading.Thread(target=self._executor.spin, name="test_executor", daemon=True)
        self._thread.start()

    def add(self, node: Node) -> Node:
        self._executor.add_node(node)
        return node

    def remove(self, node: Node) -> None:
        """Stop spinning ``node`` and destroy it."""
        self._executor.remove_node(node)
        node.destroy_node()

    def shutdown(self) -> None:
        """Stop spinning (call before the context is shut down)."""
        self._executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=5.0)


def fresh_namespace(prefix: str = "test") -> str:
    """A namespace no other test in this process uses."""
    return f"/{prefix}_{os.getpid()}_{next(_namespaces)}"


def wait_for(
    condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition", interval: float = 0.01
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def qos(reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE, depth: int = 10) -> QoSProfile:
    return QoSProfile(depth=depth, reliability=reliability)


class Collector:
    """Subscribe to a topic on ``node`` and keep every message received (thread-safe)."""

    def __init__(self, node: Node, msg_type: type, topic: str, profile: QoSProfile | None = None) -> None:
        self._lock = threading.Lock()
        self._messages: list[Any] = []
        self.subscription = node.create_subscription(msg_type, topic, self._append, profile or qos())

    def _append(self, msg: Any) -> None:
        with self._lock:
            self._messages.append(msg)

    @property
    def messages(self) -> list[Any]:
        with self._lock:
            return list(self._messages)

    def with_stamp(self, stamp_ns: int) -> list[Any]:
        return [m for m in self.messages if stamp_of(m) == stamp_ns]

    def wait_for_stamp(self, stamp_ns: int, timeout: float = 5.0) -> Any:
        """The first message stamped ``stamp_ns`` (fails after ``timeout``)."""
        return wait_for(lambda: self.with_stamp(stamp_ns), timeout, f"a message stamped {stamp_ns}")[0]


def stamp_of(msg: Any) -> int:
    return msg.header.stamp.sec * NANOSECONDS + msg.header.stamp.nanosec


def header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=Time(sec=stamp_ns // NANOSECONDS, nanosec=stamp_ns % NANOSECONDS), frame_id=frame_id)


DEPTH_FRAME = "camera_depth_optical_frame"
COLOR_FRAME = "camera_color_optical_frame"


def depth_msg(depth_m: np.ndarray, stamp_ns: int, encoding: str = "16UC1", frame_id: str = DEPTH_FRAME) -> Image:
    return fill_image_msg(Image(header=header(stamp_ns, frame_id)), depth_to_buffer(depth_m, encoding))


def color_msg(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = COLOR_FRAME) -> Image:
    return fill_image_msg(Image(header=header(stamp_ns, frame_id)), color_to_buffer(rgb, encoding))


def camera_info_msg(intrinsics: CameraIntrinsics, stamp_ns: int, frame_id: str = DEPTH_FRAME) -> CameraInfo:
    return CameraInfo(header=header(stamp_ns, frame_id), **intrinsics.camera_info_fields())


def wait_for_subscribers(publisher: Any, count: int = 1, timeout: float = 5.0) -> None:
    """Wait until discovery has matched ``publisher`` with ``count`` subscriptions."""
    what = f"{count} subscriber(s) on {publisher.topic_name}"
    wait_for(lambda: publisher.get_subscription_count() >= count, timeout, what)


def wait_for_publishers(node: Node, topic: str, count: int = 1, timeout: float = 5.0) -> None:
    """Wait until ``node`` sees ``count`` publishers on ``topic`` (resolved in ``node``'s namespace)."""
    resolved = node.resolve_topic_name(topic)
    wait_for(lambda: node.count_publishers(resolved) >= count, timeout, f"{count} publisher(s) on {resolved}")
