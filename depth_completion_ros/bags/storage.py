"""Opening, reading and atomically creating rosbag2 bags with the pure-Python ``rosbags`` library.

``ros2 bag`` and ``rosbag2_py`` do not install from any registry these tools must run from
(docs/ros2.md), so every bag tool here goes through ``rosbags``. This module holds what they all
share and needs no ROS installation: the one error type, error translation for missing, truncated
and corrupt bags, message iteration with deserialization, pairing of messages by header stamp,
atomic creation of a bag directory, and the summary behind ``bag info``.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sqlite3
import struct
import tempfile
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import apsw
from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
    TopicInfo,
)
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore

from ..depth_io import PARTIAL_MARK, stale_partials
from ..sync import NANOSECONDS, stamp_to_ns

LOG = logging.getLogger(__name__)

#: Message definitions of ROS 2 Kilted, the distribution whose wheels this package runs on.
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
#: ``--storage`` names (those of ``ros2 bag``) and the matching ``rosbags`` plugins.
STORAGE_PLUGINS = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}
#: ``bag record --stamp`` choices: a message's log time is its arrival or its header stamp.
STAMP_MODES = ("receive", "header")
#: Longest a message ``bag record`` has written stays in its memory before it reaches the bag file
#: (``record.checkpoint``): a recorder killed with SIGKILL loses at most this much of its recording.
CHECKPOINT_PERIOD_S = 1.0
#: rosbag2 metadata version written by ``rosbags`` for Jazzy and later.
BAG_VERSION: Final = 9
#: rmw's "infinite" duration, as ``ros2 bag record`` stores it for deadline, lifespan and lease.
_INFINITE = QosTime(sec=9223372036, nsec=854775807)
#: What a camera driver offers (rclcpp's default publisher profile); recorded into converted bags
#: so ``bag play`` and ``ros2 bag play`` publish them as the camera would.
DRIVER_QOS = Qos(
    history=QosHistory.KEEP_LAST,
    depth=10,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.VOLATILE,
    deadline=_INFINITE,
    lifespan=_INFINITE,
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=_INFINITE,
    avoid_ros_namespace_conventions=False,
)
#: Errors ``rosbags`` (and the SQLite layers under it) raise for truncated or corrupt storage.
_CORRUPT_BAG_ERRORS = (ReaderError, apsw.Error, sqlite3.Error, struct.error, EOFError)
_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_REPAIR_HINT = "; if it is a recording that was killed before it closed, recover it with 'depth-completion bag repair'"


class BagError(ValueError):
    """A bag is missing, truncated, corrupt, lacks a requested topic, or cannot be created."""


@contextlib.contextmanager
def open_bag(path: str | os.PathLike[str]) -> Iterator[Reader]:
    """Open a rosbag2 directory (or a bare ``.mcap``/``.db3`` file) for reading.

    Storage errors raised while the bag is open, including those that surface only when the
    messages are iterated (a truncated SQLite file reads fine until the missing pages), become
    :class:`BagError` naming the bag, so the CLI reports them in one line.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    if path.is_file() and path.suffix not in STORAGE_SUFFIXES:
        raise BagError(f"{path}: not a rosbag2 bag (a bag is a folder with metadata.yaml, or a .mcap/.db3 file)")
    try:
        reader = Reader(path)
    except FileNotFoundError:
        raise BagError(f"{path}: not a rosbag2 bag (no metadata.yaml in the folder){_REPAIR_HINT}") from None
    except ReaderError as exc:
        raise BagError(f"{path}: not a rosbag2 bag ({exc}){_REPAIR_HINT}") from None
    try:
        with reader:
            yield reader
    except _CORRUPT_BAG_ERRORS as exc:
        raise BagError(f"{path}: cannot read the bag, it is truncated or corrupt ({exc}){_REPAIR_HINT}") from exc


def require_topics(
    reader: Reader, topics: Iterable[str], path: str | os.PathLike[str], msgtype: str | None = None
) -> None:
    """Fail with the bag's topic list when any of ``topics`` is not in the bag, or not of ``msgtype`` when given."""
    topics = list(topics)
    missing = [topic for topic in topics if topic not in reader.topics]
    if missing:
        available = ", ".join(sorted(reader.topics)) or "none"
        raise BagError(f"{path}: no topic {', '.join(missing)} in the bag (it has: {available})")
    if msgtype is not None:
        for topic in topics:
            if reader.topics[topic].msgtype != msgtype:
                raise BagError(f"{path}: {topic} holds {reader.topics[topic].msgtype or 'mixed types'}, "
                               f"not {msgtype}")


def iter_messages(reader: Reader, topics: Collection[str]) -> Iterator[tuple[str, int, Any]]:
    """Yield ``(topic, log time ns, deserialized message)`` for ``topics`` in log-time order.

    Images come out with ``data`` as a numpy view of the read buffer, so decoding them with
    ``ros_image`` copies nothing.
    """
    connections = [c for c in reader.connections if c.topic in topics]
    for connection, log_ns, raw in reader.messages(connections=connections):
        try:
            message = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
        except SerdeError as exc:
            raise BagError(
                f"message at {log_ns} ns on {connection.topic} is not a valid {connection.msgtype} ({exc})"
            ) from exc
        yield connection.topic, log_ns, message


def match_by_stamp(
    messages: Iterable[tuple[str, int, Any]],
    topics: Collection[str],
    required: Collection[str],
    window: int = 64,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Group messages of ``topics`` that carry the same header stamp; yield ``(stamp ns, {topic: msg})``.

    A group is yielded as soon as every topic has arrived. Groups still incomplete when more
    than ``window`` stamps are pending, or when the input ends, are yielded if they hold every
    ``required`` topic and dropped otherwise (a colour frame without depth is useless; a depth
    frame without colour is still a frame). Exact stamp equality is right here: the publishers
    of one camera, and the node, which copies its input header, stamp a frame's topics alike.
    """
    pending: OrderedDict[int, dict[str, Any]] = OrderedDict()
    for topic, _log_ns, message in messages:
        stamp = stamp_to_ns(message.header.stamp)
        group = pending.setdefault(stamp, {})
        group[topic] = message
        if len(group) == len(topics):
            yield stamp, pending.pop(stamp)
        while len(pending) > window:
            oldest, group = pending.popitem(last=False)
            if all(topic in group for topic in required):
                yield oldest, group
    for stamp, group in pending.items():
        if all(topic in group for topic in required):
            yield stamp, group


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a path in a hidden staging folder beside ``path``; move it to ``path`` only on success.

    Bags are directories (metadata.yaml plus storage files), so ``depth_io.atomic_output``,
    which stages a single file, does not apply. The staged directory has the final name, so the
    storage file inside (``<name>.mcap``) matches what ``ros2 bag`` would have written. A
    failure or an interrupt (SIGINT, and SIGTERM where the CLI maps it to one) leaves no
    half-written output; an existing ``path`` is never replaced. Only SIGKILL can leave the
    staging folder behind: the next run for the same ``path`` names it in a warning
    (:func:`stale_partials`), and ``bag repair`` recovers a killed recording from it.
    """
    path = Path(path)
    if path.exists():
        raise BagError(f"{path}: already exists; choose a new output name (bags are never overwritten)")
    if path.parent.exists() and not path.parent.is_dir():
        raise BagError(f"{path.parent}: not a folder, cannot create {path.name} in it")
    for stale in stale_partials(path.parent, path.name):
        if not stale.is_dir():  # a file's partial: not a staging folder of this output
            continue
        LOG.warning(f"{stale}: left behind by an earlier run that was killed before it finished; "
                    f"recover a killed recording with 'depth-completion bag repair {stale} NEW_BAG', "
                    "otherwise delete it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=PARTIAL_MARK,
                                        dir=path.parent))
    except OSError as exc:
        raise BagError(f"{path}: cannot create the output ({exc.strerror or exc})") from exc
    try:
        yield staging / path.name
        try:
            os.rename(staging / path.name, path)
        except OSError as exc:
            raise BagError(f"{path}: cannot move the finished output into place ({exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag as ``bag info`` lists it."""

    name: str
    msgtype: str
    count: int
    reliability: str
    durability: str


@dataclass(frozen=True)
class BagInfo:
    """What ``bag info`` reports: storage, files, time span and per-topic counts."""

    path: Path
    storage: str
    files: Mapping[str, int]
    start_ns: int
    duration_ns: int
    message_count: int
    topics: tuple[TopicSummary, ...]

    @property
    def size_bytes(self) -> int:
        return sum(self.files.values())

    def rate_hz(self, topic: TopicSummary) -> float | None:
        """Average rate over the bag's span; None when it cannot be told (one message, no span)."""
        if topic.count < 2 or self.duration_ns <= 0:
            return None
        return (topic.count - 1) * NANOSECONDS / self.duration_ns

    def format(self) -> str:
        """Human-readable report in the spirit of ``ros2 bag info``."""
        lines = [
            f"bag:       {self.path}",
            f"storage:   {self.storage}",
            f"size:      {_format_size(self.size_bytes)} in {len(self.files)} file(s): "
            + ", ".join(f"{name} ({_format_size(size)})" for name, size in self.files.items()),
            f"start:     {self.start_ns / NANOSECONDS:.9f} s",
            f"duration:  {self.duration_ns / NANOSECONDS:.3f} s",
            f"messages:  {self.message_count}",
            "topics (rate = average over the bag's duration):",
        ]
        if not self.topics:
            lines.append("  (none)")
        width = max((len(t.name) for t in self.topics), default=0)
        type_width = max((len(t.msgtype) for t in self.topics), default=0)
        for topic in self.topics:
            rate = self.rate_hz(topic)
            rate_text = f"{rate:8.2f} Hz" if rate is not None else "       - Hz"
            lines.append(
                f"  {topic.name:<{width}}  {topic.msgtype:<{type_width}}  {topic.count:>7} msgs  {rate_text}"
                f"  qos {topic.reliability}/{topic.durability}"
            )
        return "\n".join(lines)


def _format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    exponent = min(int(math.log(size, 1024)), len(_SIZE_UNITS) - 1)
    return f"{size / 1024**exponent:.1f} {_SIZE_UNITS[exponent]}"


def offered_qos(connection: Connection) -> list[Qos]:
    """The QoS profiles the recorded publishers offered on a rosbag2 connection (none for ROS 1 bags)."""
    return connection.ext.offered_qos_profiles if isinstance(connection.ext, ConnectionExtRosbag2) else []


def _topic_summary(name: str, info: TopicInfo) -> TopicSummary:
    offers = [qos for connection in info.connections for qos in offered_qos(connection)]

    def policy(field: str) -> str:
        return ",".join(sorted({getattr(qos, field).name.lower() for qos in offers})) or "unknown"

    return TopicSummary(name=name, msgtype=info.msgtype or "(mixed types)", count=info.msgcount,
                        reliability=policy("reliability"), durability=policy("durability"))


def bag_info(path: str | os.PathLike[str]) -> BagInfo:
    """Summarise a bag from its metadata and index (message payloads are not read)."""
    path = Path(path)
    with open_bag(path) as reader:
        files = {p.name: p.stat().st_size for p in (sorted(path.iterdir()) if path.is_dir() else [path]) if p.is_file()}
        storages = {STORAGE_SUFFIXES[Path(name).suffix] for name in files if Path(name).suffix in STORAGE_SUFFIXES}
        topics = tuple(_topic_summary(name, info) for name, info in sorted(reader.topics.items()))
        return BagInfo(
            path=path,
            storage=",".join(sorted(storages)) or "unknown",
            files=files,
            start_ns=reader.start_time if reader.message_count else 0,
            # rosbags' end time is exclusive (last log time + 1 ns); report first to last message.
            duration_ns=reader.duration - 1 if reader.message_count else 0,
            message_count=reader.message_count,
            topics=topics,
        )
