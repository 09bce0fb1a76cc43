"""``bag repair``: recover the messages of a recording that never closed its bag, like ``ros2 bag reindex``.

A recorder killed with SIGKILL (or by a power cut or a full disk) leaves its storage file
without what closing writes: an MCAP file without its summary and footer, which ``rosbags`` and
``ros2 bag`` refuse, or a SQLite file whose last transaction was never committed, and in both
cases no ``metadata.yaml``. What was written before the cut is intact. Repair reads MCAP
records in file order up to the first cut-off one (the complete messages of a cut-off
uncompressed chunk included) and, from SQLite, the committed rows (it opens a copy, so SQLite
rolls back the interrupted transaction without touching the original). The messages go into a
new bag with the recording's own topics, message definitions and QoS, written atomically like
every output here; the report says what was recovered and what was not.
"""
from __future__ import annotations

import io
import os
import shutil
import sqlite3
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from rosbags.interfaces import Connection, Qos
from rosbags.rosbag2 import ReaderError, Writer
from rosbags.rosbag2.metadata import parse_qos
from rosbags.rosbag2.storage_mcap import decompress, get_qos
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from .storage import (
    BAG_VERSION,
    CHECKPOINT_PERIOD_S,
    STORAGE_PLUGINS,
    STORAGE_SUFFIXES,
    TYPESTORE,
    BagError,
    atomic_directory,
)

MCAP_MAGIC = b"\x89MCAP0\r\n"
#: MCAP record opcodes that repair reads (https://mcap.dev/spec); other records are skipped.
_FOOTER, _SCHEMA, _CHANNEL, _MESSAGE, _CHUNK, _DATA_END = 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F
_RECORD_NAMES = {_SCHEMA: "schema", _CHANNEL: "channel", _MESSAGE: "message", _CHUNK: "chunk"}
_RECORD_HEADER = struct.Struct("<BQ")
_MESSAGE_HEADER = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_CHUNK_HEADER = struct.Struct("<QQQI")  # start time, end time, uncompressed size, CRC
_SQLITE_SIDE_FILES = ("-journal", "-wal")


@dataclass(frozen=True)
class RecordedTopic:
    """One topic of a partial recording, as its storage file describes it."""

    name: str
    msgtype: str
    serialization_format: str = "cdr"
    definition_format: str = ""  # "ros2msg", "ros2idl", or "" when the file holds no definition
    definition: str = ""
    offered_qos: tuple[Qos, ...] = ()


@dataclass
class RepairReport:
    """What ``bag repair`` recovered, per topic, and what it could not (one line per damaged part)."""

    source: Path
    output: Path
    recovered: Counter[str] = field(default_factory=Counter)
    lost_messages: int = 0
    damage: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"recovered {sum(self.recovered.values())} messages from {self.source} into {self.output}"]
        lines += [f"  {topic}: {count}" for topic, count in sorted(self.recovered.items())]
        lines.append(f"lost: {self.lost_messages} message(s) found cut off or unreadable in the file")
        lines += [f"  {line}" for line in self.damage]
        lines.append("messages a killed recorder still held in memory never reached the file and cannot be "
                     f"counted ('bag record' hands them to the file at least every {CHECKPOINT_PERIOD_S:g} s)")
        return "\n".join(lines)


def find_storage_file(path: str | os.PathLike[str]) -> Path:
    """The one ``.mcap``/``.db3`` file of a partial recording.

    ``path`` is the file itself, a bag folder without ``metadata.yaml``, or the hidden
    ``.NAME.*.partial`` staging folder a killed ``bag record`` left (it holds the bag folder).
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix not in STORAGE_SUFFIXES:
            raise BagError(f"{path}: not a rosbag2 storage file (expected .mcap or .db3)")
        return path
    found = sorted(p for pattern in ("*", "*/*") for suffix in STORAGE_SUFFIXES for p in path.glob(pattern + suffix)
                   if p.is_file())
    if not found:
        raise BagError(f"{path}: no .mcap or .db3 file in the folder or its sub-folders")
    if len(found) > 1:
        raise BagError(f"{path}: {len(found)} storage files ({', '.join(p.name for p in found)}); "
                       "repair one at a time by naming the file")
    return found[0]


class _McapScan:
    """Reads an MCAP file's records in order, tolerating a cut-off end; collects topics and damage."""

    def __init__(self, report: RepairReport) -> None:
        self.schemas: dict[int, tuple[str, str, str]] = {}
        self.topics: dict[int, RecordedTopic] = {}
        self._report = report

    def messages(self, stream: BinaryIO, size: int) -> Iterator[tuple[int, int, bytes]]:
        """``(channel id, log time ns, serialized message)`` of every intact message record of ``stream``."""
        if size == 0:
            raise BagError(f"{self._report.source}: the file is empty "
                           "(nothing was written before the recorder stopped)")
        if stream.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
            raise BagError(f"{self._report.source}: not an MCAP file (its first bytes are not the MCAP magic)")
        yield from self._records(stream, size, "file")

    def _damaged(self, text: str, lost: int = 0) -> None:
        self._report.damage.append(text)
        self._report.lost_messages += lost

    def _records(self, stream: BinaryIO, end: int, where: str) -> Iterator[tuple[int, int, bytes]]:
        """The messages of the records from ``stream``'s position to ``end``; stops at the first cut-off record."""
        while (offset := stream.tell()) < end:
            header = stream.read(_RECORD_HEADER.size)
            if len(header) < _RECORD_HEADER.size:
                self._damaged(f"{where} byte {offset}: the last {end - offset} bytes are the start of a cut-off record")
                return
            opcode, length = _RECORD_HEADER.unpack(header)
            if opcode in (_FOOTER, _DATA_END):
                return
            # Never ask for more than is there: a corrupt length must not become a huge allocation.
            body = memoryview(stream.read(min(length, end - offset - _RECORD_HEADER.size)))
            cut = len(body) < length
            name = _RECORD_NAMES.get(opcode, f"0x{opcode:02x}")
            try:
                if opcode == _CHUNK:
                    yield from self._chunk(body, cut, f"chunk at {where} byte {offset}")
                elif cut:
                    self._damaged(f"{where} byte {offset}: a {name} record is cut off "
                                  f"({len(body)} of {length} bytes)", lost=int(opcode == _MESSAGE))
                elif opcode == _SCHEMA:
                    self._schema(body)
                elif opcode == _CHANNEL:
                    self._channel(body)
                elif opcode == _MESSAGE:
                    channel, _sequence, log_ns, _publish_ns = _MESSAGE_HEADER.unpack_from(body)
                    yield channel, log_ns, bytes(body[_MESSAGE_HEADER.size:])
            except (struct.error, UnicodeDecodeError, ReaderError) as exc:
                self._damaged(f"{where} byte {offset}: a {name} record is unreadable ({exc})",
                              lost=int(opcode == _MESSAGE))
            if cut:
                return

    def _chunk(self, body: memoryview, cut: bool, where: str) -> Iterator[tuple[int, int, bytes]]:
        reader = _Fields(body)
        _start, _end, uncompressed_size, crc = reader.unpack(_CHUNK_HEADER)
        compression = reader.string()
        records = reader.sized_bytes("<Q", allow_short=cut)
        if not cut:
            content = decompress(bytes(records), compression, uncompressed_size, crc)
            yield from self._records(io.BytesIO(content), len(content), f"{where}, content")
        elif not compression:  # uncompressed: the complete records before the cut are readable
            yield from self._records(io.BytesIO(records), len(records), f"{where} (cut off), content")
        else:
            self._damaged(f"{where}: the {compression} chunk is cut off; its messages cannot be decompressed")

    def _schema(self, body: memoryview) -> None:
        reader = _Fields(body)
        (schema_id,) = reader.unpack(struct.Struct("<H"))
        self.schemas[schema_id] = (reader.string(), reader.string(), bytes(reader.sized_bytes("<I")).decode())

    def _channel(self, body: memoryview) -> None:
        reader = _Fields(body)
        channel_id, schema_id = reader.unpack(struct.Struct("<HH"))
        topic, encoding = reader.string(), reader.string()
        metadata = bytes(reader.sized_bytes("<I"))
        schema_name, definition_format, definition = self.schemas.get(schema_id, ("", "", ""))
        self.topics[channel_id] = RecordedTopic(
            name=topic, msgtype=schema_name, serialization_format=encoding, definition_format=definition_format,
            definition=definition, offered_qos=tuple(get_qos(metadata)),
        )


class _Fields:
    """Sequential little-endian fields of one record body (MCAP strings and byte arrays are length-prefixed)."""

    def __init__(self, body: memoryview) -> None:
        self._body = body
        self._offset = 0

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...]:
        values = layout.unpack_from(self._body, self._offset)
        self._offset += layout.size
        return values

    def sized_bytes(self, length_format: str, allow_short: bool = False) -> memoryview:
        (length,) = self.unpack(struct.Struct(length_format))
        value = self._body[self._offset: self._offset + length]
        if len(value) < length and not allow_short:
            raise struct.error(f"a field of {length} bytes runs past the record")
        self._offset += length
        return value

    def string(self) -> str:
        return bytes(self.sized_bytes("<I")).decode()


def _sqlite_rows(path: Path, workdir: Path, report: RepairReport) -> tuple[dict[int, RecordedTopic],
                                                                          Iterator[tuple[int, int, bytes]]]:
    """The topics and a message iterator of a rosbag2 SQLite file, from a rolled-back copy in ``workdir``."""
    copy = workdir / path.name
    for suffix in ("", *_SQLITE_SIDE_FILES):
        if Path(f"{path}{suffix}").exists():
            shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
    connection = sqlite3.connect(copy)
    try:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        definitions = {msgtype: (encoding, text) for msgtype, encoding, text in connection.execute(
            "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions")
        } if "message_definitions" in tables else {}  # rosbag2 SQLite schema < 4 stores no definitions
        topics = {
            topic_id: RecordedTopic(name=name, msgtype=msgtype, serialization_format=encoding,
                                    definition_format=definitions.get(msgtype, ("", ""))[0],
                                    definition=definitions.get(msgtype, ("", ""))[1],
                                    offered_qos=tuple(parse_qos(qos or "")))
            for topic_id, name, msgtype, encoding, qos in connection.execute(
                "SELECT id, name, type, serialization_format, offered_qos_profiles FROM topics")
        }
    except (sqlite3.DatabaseError, ReaderError) as exc:
        connection.close()
        raise BagError(f"{path}: not a readable rosbag2 SQLite file ({exc})") from exc

    def rows() -> Iterator[tuple[int, int, bytes]]:
        try:
            yield from connection.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY id")
        except sqlite3.DatabaseError as exc:
            report.damage.append(f"the database is damaged after the rows read so far ({exc})")
        finally:
            connection.close()

    return topics, rows()


def _typestore_for(topic: RecordedTopic) -> Typestore:
    """A typestore holding ``topic``'s type as the recording defined it (its message hash follows from it).

    Files without definitions (rosbag2 SQLite before schema 4) fall back to ROS 2 Kilted's.
    """
    if topic.definition_format not in ("ros2msg", "ros2idl") or not topic.definition:
        if topic.msgtype in TYPESTORE.types:
            return TYPESTORE
        raise BagError(f"{topic.name}: the file holds no message definition of {topic.msgtype or 'its type'}")
    store = get_typestore(Stores.EMPTY)
    try:
        store.register(get_types_from_msg(topic.definition, topic.msgtype) if topic.definition_format == "ros2msg"
                       else get_types_from_idl(topic.definition))
        store.hash_rihs01(topic.msgtype)
    except (TypesysError, KeyError) as exc:
        raise BagError(f"{topic.name}: the message definition of {topic.msgtype} does not parse ({exc})") from exc
    return store


class _RepairedBag:
    """Adds each recorded topic to the new bag on its first message; topics that cannot be added are damage."""

    def __init__(self, writer: Writer, topics: dict[int, RecordedTopic], report: RepairReport) -> None:
        self._writer = writer
        self._topics = topics
        self._report = report
        self._connections: dict[int, Connection | None] = {}

    def write(self, topic_id: int, log_ns: int, data: bytes) -> None:
        if topic_id not in self._connections:
            self._connections[topic_id] = self._connect(topic_id)
        connection = self._connections[topic_id]
        if connection is None:
            self._report.lost_messages += 1
            return
        self._writer.write(connection, log_ns, data)
        self._report.recovered[connection.topic] += 1

    def _connect(self, topic_id: int) -> Connection | None:
        topic = self._topics.get(topic_id)
        if topic is None:
            self._report.damage.append(f"messages of channel {topic_id}, whose topic record is missing, are dropped")
            return None
        try:
            store = _typestore_for(topic)
        except BagError as exc:
            self._report.damage.append(f"{exc}; its messages are dropped")
            return None
        return self._writer.add_connection(topic.name, topic.msgtype, typestore=store,
                                           serialization_format=topic.serialization_format,
                                           offered_qos_profiles=list(topic.offered_qos))


def repair_bag(source: str | os.PathLike[str], output: str | os.PathLike[str]) -> RepairReport:
    """Write the intact messages of the partial recording at ``source`` into a new bag at ``output``.

    ``source`` is what :func:`find_storage_file` accepts; the new bag uses the source's storage
    (MCAP or SQLite). Fails with a :class:`BagError` when nothing at all can be recovered.
    """
    storage_file = find_storage_file(source)
    report = RepairReport(source=storage_file, output=Path(output))
    storage = STORAGE_SUFFIXES[storage_file.suffix]
    with atomic_directory(output) as staged:
        staged.parent.joinpath("work").mkdir()
        if storage == "mcap":
            messages, topics = _mcap_messages(storage_file, report)
        else:
            topics, messages = _sqlite_rows(storage_file, staged.parent / "work", report)
        with Writer(staged, version=BAG_VERSION, storage_plugin=STORAGE_PLUGINS[storage]) as writer:
            bag = _RepairedBag(writer, topics, report)
            for topic_id, log_ns, data in messages:
                bag.write(topic_id, log_ns, data)
            if not report.recovered:
                damage = "; ".join(report.damage) or "it holds no messages"
                raise BagError(f"{storage_file}: no message could be recovered ({damage})")
    return report


def _mcap_messages(path: Path, report: RepairReport) -> tuple[Iterator[tuple[int, int, bytes]],
                                                                dict[int, RecordedTopic]]:
    """The intact messages of an MCAP file, read record by record, and its topics, filled in as they appear."""
    scan = _McapScan(report)

    def messages() -> Iterator[tuple[int, int, bytes]]:
        with path.open("rb") as stream:
            yield from scan.messages(stream, os.fstat(stream.fileno()).st_size)

    return messages(), scan.topics
