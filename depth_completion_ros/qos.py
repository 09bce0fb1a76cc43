"""Input QoS that matches the publishers, and plain-words reports when it cannot.

Drivers publish images RELIABLE; REP 2003's sensor-data profile (best effort) is compatible with
every publisher but lost about half of 640x480 frames on a busy 2-core machine (docs/node.md),
and a RELIABLE subscription silently receives nothing from a BEST_EFFORT publisher. So each
input has a mode (``auto``, ``reliable``, ``best_effort``): ``auto`` subscribes RELIABLE only
when every publisher on the topic is reliable, and keeps following the publishers as they come
and go (ROS 2's ``BEST_AVAILABLE`` decides once, at creation, and does not exist on Humble).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_policy_name_from_kind
from rclpy.subscription import Subscription

try:
    from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
except ImportError:  # Humble names the module qos_event
    from rclpy.qos_event import SubscriptionEventCallbacks, UnsupportedEventTypeError

QOS_MODES = ("auto", "reliable", "best_effort")
#: Per-input history: enough for the synchroniser's slop without building a backlog.
INPUT_HISTORY_DEPTH = 5
#: Outputs are reliable (RViz, recorders and image_pipeline nodes subscribe reliable by default).
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=INPUT_HISTORY_DEPTH,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def input_qos(reliability: ReliabilityPolicy) -> QoSProfile:
    """Keep-last, volatile (compatible with every publisher's durability) with the given reliability."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=INPUT_HISTORY_DEPTH,
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


def reliability_for(mode: str, publisher_reliabilities: Iterable[ReliabilityPolicy]) -> ReliabilityPolicy:
    """The subscription reliability for a QoS ``mode`` given the publishers now on the topic.

    ``auto`` picks RELIABLE only when there are publishers and all of them are reliable; with
    none yet it picks BEST_EFFORT, which matches whatever appears first.
    """
    if mode == "reliable":
        return ReliabilityPolicy.RELIABLE
    if mode == "best_effort":
        return ReliabilityPolicy.BEST_EFFORT
    if mode != "auto":
        raise ValueError(f"unknown QoS mode {mode!r} (expected one of {', '.join(QOS_MODES)})")
    found = list(publisher_reliabilities)
    if found and all(r == ReliabilityPolicy.RELIABLE for r in found):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


def policy_name(reliability: ReliabilityPolicy) -> str:
    """``RELIABLE`` / ``BEST_EFFORT``: the name ROS 2 tools print, for logs and diagnostics."""
    return ReliabilityPolicy(reliability).name


def describe_publishers(publishers: Sequence[Any]) -> str:
    """``2 publisher(s): /camera/driver (RELIABLE), /player (BEST_EFFORT)`` from TopicEndpointInfo."""
    if not publishers:
        return "no publishers"
    names = ", ".join(
        f"{_node_path(info)} ({policy_name(info.qos_profile.reliability)})" for info in publishers
    )
    return f"{len(publishers)} publisher(s): {names}"


def _node_path(info: Any) -> str:
    namespace = info.node_namespace.rstrip("/")
    return f"{namespace}/{info.node_name}" if info.node_name else "<unknown node>"


class MatchedSubscription:
    """A subscription whose reliability follows a QoS mode; in ``auto`` mode it follows the publishers.

    Call :meth:`refresh` periodically (from the executor thread): it re-creates the DDS reader
    when the reliability it should have changed, e.g. a reliable driver appeared after start.
    ``lost`` counts messages the middleware reports lost in transport (best effort only: a
    reliable reader gets every message or none), where the middleware reports it.
    """

    def __init__(
        self,
        node: Node,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        mode: str,
        on_incompatible_qos: Callable[[str], None],
    ) -> None:
        if mode not in QOS_MODES:
            raise ValueError(f"unknown QoS mode {mode!r} for {topic} (expected one of {', '.join(QOS_MODES)})")
        self._node = node
        self._msg_type = msg_type
        self._callback = callback
        self._on_incompatible_qos = on_incompatible_qos
        self.mode = mode
        self.topic = node.resolve_topic_name(topic)
        self.lost = 0
        publishers = self.publishers()
        self.reliability = self._wanted(publishers)
        self._subscription = self._subscribe(self.reliability, publishers)

    def publishers(self) -> list[Any]:
        """TopicEndpointInfo of every publisher on the topic now (from the local graph cache)."""
        return self._node.get_publishers_info_by_topic(self.topic)

    def incompatible_publishers(self) -> list[Any]:
        """Publishers this subscription cannot hear: best-effort ones while we are reliable."""
        if self.reliability != ReliabilityPolicy.RELIABLE:
            return []
        return [p for p in self.publishers() if p.qos_profile.reliability != ReliabilityPolicy.RELIABLE]

    def describe_qos(self) -> str:
        """``RELIABLE (auto)``: the reliability subscribed with and the mode that chose it."""
        return f"{policy_name(self.reliability)} ({self.mode})"

    def silence_hint(self, qos_parameter: str) -> str:
        """The likely reason nothing arrives, naming ``qos_parameter`` when QoS is the cause."""
        publishers = self.publishers()
        if not publishers:
            return "no publishers: check the topic name, remapping and namespace"
        if incompatible := self.incompatible_publishers():
            return (f"{describe_publishers(incompatible)} cannot reach this RELIABLE subscription; "
                    f"set {qos_parameter}:=auto or best_effort")
        return f"{describe_publishers(publishers)} matched but not sending"

    def refresh(self) -> bool:
        """(Re)create the subscription if its reliability should change; True when it did."""
        publishers = self.publishers()
        wanted = self._wanted(publishers)
        if wanted == self.reliability:
            return False
        self._node.destroy_subscription(self._subscription)
        self._subscription = self._subscribe(wanted, publishers)
        self.reliability = wanted
        return True

    def _wanted(self, publishers: list[Any]) -> ReliabilityPolicy:
        return reliability_for(self.mode, (p.qos_profile.reliability for p in publishers))

    def _subscribe(self, reliability: ReliabilityPolicy, publishers: list[Any]) -> Subscription[Any]:
        try:
            subscription = self._create(reliability, report_losses=True)
        except UnsupportedEventTypeError:  # a middleware that does not report lost messages
            subscription = self._create(reliability, report_losses=False)
        self._node.get_logger().info(
            f"{self.topic}: subscribed {policy_name(reliability)} (QoS mode {self.mode!r}; "
            f"{describe_publishers(publishers)})"
        )
        return subscription

    def _create(self, reliability: ReliabilityPolicy, report_losses: bool) -> Subscription[Any]:
        events = SubscriptionEventCallbacks(
            incompatible_qos=self._incompatible_qos, message_lost=self._message_lost if report_losses else None
        )
        return self._node.create_subscription(
            self._msg_type, self.topic, self._callback, input_qos(reliability), event_callbacks=events
        )

    def _message_lost(self, event: Any) -> None:
        self.lost += event.total_count_change

    def _incompatible_qos(self, event: Any) -> None:
        policy = qos_policy_name_from_kind(event.last_policy_kind)
        self._on_incompatible_qos(
            f"{self.topic}: a publisher offers QoS incompatible with this {policy_name(self.reliability)} "
            f"subscription (policy {policy}); {describe_publishers(self.publishers())}. "
            f"Set the input's QoS parameter to 'auto' or 'best_effort'."
        )
