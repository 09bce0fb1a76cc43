"""Conversions between RGB-D frame folders and rosbag2 bags of one camera's topics.

``frames_to_bag`` turns a recorded sequence (the ``frame-XXXXXX`` layout of
7-Scenes, Matterport3D) into what a camera driver would have published, so the node can be
exercised by replay exactly as on a robot. ``bag_to_frames`` goes the other way, so recordings
made on a robot feed the offline tools (completion, evaluation, fine-tuning).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader, Writer
from tqdm import tqdm

from ..datasets import Frame, Sample, discover_frames, load_frame
from ..depth_io import DEPTH_SCALES, atomic_output, read_depth_raw, write_color, write_depth
from ..geometry import CameraIntrinsics, read_intrinsics
from ..ros_image import ImageBuffer, color_from_msg, color_to_buffer, depth_from_msg, depth_to_buffer, units_to_buffer
from ..sync import NANOSECONDS
from ..topics import (
    CAMERA_INFO_TOPIC,
    COLOR_CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    GROUND_TRUTH_TOPIC,
    OUT_DEPTH_TOPIC,
)
from .storage import (
    BAG_VERSION,
    CAMERA_INFO_TYPE,
    DRIVER_QOS,
    IMAGE_TYPE,
    STORAGE_PLUGINS,
    TYPESTORE,
    BagError,
    atomic_directory,
    iter_messages,
    match_by_stamp,
    open_bag,
    require_topics,
)

DEFAULT_RATE_HZ = 30.0
#: First header stamp of a converted bag. Not 0: under use_sim_time a ROS time of 0 means
#: "the clock has not started", and nodes wait for it.
DEFAULT_START_S = 1.0
DEFAULT_NAMESPACE = "/camera"
#: Depth is expected registered to colour (RGB-guided completion), so both share the colour frame.
DEFAULT_FRAME_ID = "camera_color_optical_frame"
#: Depth encodings a converted bag can have (REP 118).
BAG_DEPTH_ENCODINGS = ("16UC1", "32FC1")
#: ``from-frames --depth-encoding`` choices; ``auto`` keeps the source's values exactly.
DEPTH_ENCODING_CHOICES = ("auto", *BAG_DEPTH_ENCODINGS)


@dataclass(frozen=True)
class CameraTopics:
    """The topic names of one RGB-D camera under a namespace: Orbbec's driver names, the node's defaults."""

    namespace: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        normalized = "/" + self.namespace.strip("/") if self.namespace.strip("/") else ""
        object.__setattr__(self, "namespace", normalized)

    @property
    def depth(self) -> str:
        return f"{self.namespace}/{DEPTH_TOPIC}"

    @property
    def depth_info(self) -> str:
        return f"{self.namespace}/{CAMERA_INFO_TOPIC}"

    @property
    def color(self) -> str:
        return f"{self.namespace}/{COLOR_TOPIC}"

    @property
    def color_info(self) -> str:
        return f"{self.namespace}/{COLOR_CAMERA_INFO_TOPIC}"

    @property
    def completed(self) -> str:
        """The node's completed depth in the camera's namespace."""
        return f"{self.namespace}/{OUT_DEPTH_TOPIC}"

    @property
    def ground_truth(self) -> str:
        """Dense reference depth, present when the source dataset has it (Matterport3D, ClearGrasp)."""
        return f"{self.namespace}/{GROUND_TRUTH_TOPIC}"


def frame_stamp(index: int, rate_hz: float = DEFAULT_RATE_HZ, start_s: float = DEFAULT_START_S) -> int:
    """Header stamp (ns) of frame ``index`` of a converted sequence: ``start_s + index / rate_hz``.

    Also how a frame folder is matched against a bag converted from it, so conversion and
    evaluation both use this one function.
    """
    if not rate_hz > 0:
        raise ValueError(f"rate must be positive, got {rate_hz} Hz")
    if start_s < 0:
        raise ValueError(f"start time must be >= 0 s, got {start_s}")
    return round(start_s * NANOSECONDS) + round(index * NANOSECONDS / rate_hz)


def _is_millimetre_png(frame: Frame) -> bool:
    return frame.depth_scale == DEPTH_SCALES["mm"] and frame.depth.suffix.lower() == ".png"


def _depth_buffer(frame: Frame, sample: Sample, encoding: str) -> ImageBuffer:
    """The depth image payload; millimetre PNGs go out as stored, so 16UC1 is bit-exact.

    Reading the raw values (rather than re-encoding ``sample.depth``) keeps sentinels such as
    the Kinect's 65535 exactly as the camera wrote them.
    """
    if encoding == "16UC1" and _is_millimetre_png(frame):
        return units_to_buffer(read_depth_raw(frame.depth))  # 8-bit depth is rejected on reading
    return depth_to_buffer(sample.depth, encoding)


def _image_msg(buffer: ImageBuffer, header: Any) -> Any:
    image_type = TYPESTORE.types[IMAGE_TYPE]
    return image_type(
        header=header,
        height=buffer.height,
        width=buffer.width,
        encoding=buffer.encoding,
        is_bigendian=buffer.is_bigendian,
        step=buffer.step,
        data=np.frombuffer(buffer.data, dtype=np.uint8),
    )


def _camera_info_msg(intrinsics: CameraIntrinsics, header: Any) -> Any:
    types = TYPESTORE.types
    fields = intrinsics.camera_info_fields()
    return types[CAMERA_INFO_TYPE](
        header=header,
        height=fields["height"],
        width=fields["width"],
        distortion_model=fields["distortion_model"],
        d=np.asarray(fields["d"], dtype=np.float64),
        k=np.asarray(fields["k"], dtype=np.float64),
        r=np.asarray(fields["r"], dtype=np.float64),
        p=np.asarray(fields["p"], dtype=np.float64),
        binning_x=0,
        binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def _header(stamp_ns: int, frame_id: str) -> Any:
    types = TYPESTORE.types
    stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // NANOSECONDS, nanosec=stamp_ns % NANOSECONDS)
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


class _TopicWriter:
    """Serializes messages into an open bag, registering each topic on its first message."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._connections: dict[str, Any] = {}

    def write(self, topic: str, msgtype: str, log_ns: int, message: Any) -> None:
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=TYPESTORE,
                                                     offered_qos_profiles=[DRIVER_QOS])
            self._connections[topic] = connection
        self._writer.write(connection, log_ns, TYPESTORE.serialize_cdr(message, msgtype))


def _frame_intrinsics(sample: Sample, explicit: CameraIntrinsics | None) -> CameraIntrinsics:
    """Intrinsics for one frame's camera_info, scaled to the frame's size when given for another size."""
    camera = explicit or sample.intrinsics
    if camera is None:
        raise BagError(
            f"{sample.name}: no camera intrinsics (the dataset has no camera-intrinsics.txt or "
            "camera_intrinsics.yaml); pass --intrinsics FILE (a 3x3 matrix text file, a YAML with fx/fy/cx/cy, "
            "or a ROS camera_info YAML)"
        )
    height, width = sample.depth.shape
    return camera if (camera.width, camera.height) == (width, height) else camera.scaled(width, height)


def _write_camera_bag(
    frames: Iterable[tuple[Sample, ImageBuffer]],
    output: Path,
    *,
    count: int | None,
    rate_hz: float,
    storage: str,
    namespace: str,
    intrinsics: CameraIntrinsics | None,
    frame_id: str,
    start_s: float,
    progress: bool,
) -> Path:
    """Write (sample, encoded depth) pairs as a camera's topics; ground truth uses the depth's encoding."""
    if storage not in STORAGE_PLUGINS:
        raise ValueError(f"unknown storage {storage!r} (use one of {', '.join(STORAGE_PLUGINS)})")
    frame_stamp(0, rate_hz, start_s)  # validates the timing before anything is written
    topics = CameraTopics(namespace)
    written = 0
    with (
        atomic_directory(output) as staged,
        Writer(staged, version=BAG_VERSION, storage_plugin=STORAGE_PLUGINS[storage]) as writer,
        # Opened once the output is known to be usable, and closed (its line ended) on any error.
        tqdm(frames, total=count, unit="frame", desc=f"writing {output.name}", disable=not progress) as progress_bar,
    ):
        bag = _TopicWriter(writer)
        for index, (sample, depth) in enumerate(progress_bar):
            stamp = frame_stamp(index, rate_hz, start_s)
            camera = _frame_intrinsics(sample, intrinsics)
            header = _header(stamp, frame_id)
            bag.write(topics.depth, IMAGE_TYPE, stamp, _image_msg(depth, header))
            bag.write(topics.depth_info, CAMERA_INFO_TYPE, stamp, _camera_info_msg(camera, header))
            if sample.rgb is not None:
                bag.write(topics.color, IMAGE_TYPE, stamp, _image_msg(color_to_buffer(sample.rgb, "rgb8"), header))
                bag.write(topics.color_info, CAMERA_INFO_TYPE, stamp, _camera_info_msg(camera, header))
            if sample.gt is not None:
                ground_truth = depth_to_buffer(sample.gt, depth.encoding)
                bag.write(topics.ground_truth, IMAGE_TYPE, stamp, _image_msg(ground_truth, header))
            written += 1
        if written == 0:
            raise ValueError("no frames to write")
    return output


def frames_to_bag(
    source: str | os.PathLike[str] | Sequence[Frame],
    output: str | os.PathLike[str],
    *,
    rate_hz: float = DEFAULT_RATE_HZ,
    storage: str = "mcap",
    namespace: str = DEFAULT_NAMESPACE,
    intrinsics: str | os.PathLike[str] | CameraIntrinsics | None = None,
    depth_encoding: str = "auto",
    frame_id: str = DEFAULT_FRAME_ID,
    start_s: float = DEFAULT_START_S,
    progress: bool = True,
) -> Path:
    """Write a frame folder (any ``datasets`` layout) or a list of frames as a camera's rosbag2 bag.

    Topics (see :class:`CameraTopics`): depth, colour, both camera_infos and, when the frames
    have it, ground truth; frame ``i`` of every topic carries the stamp :func:`frame_stamp`
    ``(i)``, which is also its log time. ``depth_encoding="auto"`` writes millimetre PNGs as
    16UC1 exactly as stored and anything else (1/4000 m Matterport, float EXR) as 32FC1
    metres, so no value changes. Intrinsics come from ``intrinsics`` (a file is read at the
    first frame's size) or the dataset's own file. The bag appears at ``output`` only once complete.
    """
    if depth_encoding not in DEPTH_ENCODING_CHOICES:
        raise ValueError(f"unknown depth encoding {depth_encoding!r} (use one of {', '.join(DEPTH_ENCODING_CHOICES)})")
    frames = discover_frames(source) if isinstance(source, (str, os.PathLike)) else list(source)
    if not frames:
        raise ValueError("no frames to write")
    if intrinsics is not None and not isinstance(intrinsics, CameraIntrinsics):
        height, width = read_depth_raw(frames[0].depth).shape
        intrinsics = read_intrinsics(intrinsics, width, height)

    def encoded() -> Iterator[tuple[Sample, ImageBuffer]]:
        for frame in frames:
            sample = load_frame(frame)
            encoding = depth_encoding
            if encoding == "auto":
                encoding = "16UC1" if _is_millimetre_png(frame) else "32FC1"
            yield sample, _depth_buffer(frame, sample, encoding)

    return _write_camera_bag(encoded(), Path(output), count=len(frames), rate_hz=rate_hz, storage=storage,
                             namespace=namespace, intrinsics=intrinsics, frame_id=frame_id, start_s=start_s,
                             progress=progress)


def samples_to_bag(
    samples: Iterable[Sample],
    output: str | os.PathLike[str],
    *,
    count: int | None = None,
    rate_hz: float = DEFAULT_RATE_HZ,
    storage: str = "mcap",
    namespace: str = DEFAULT_NAMESPACE,
    intrinsics: CameraIntrinsics | None = None,
    depth_encoding: str = "32FC1",
    frame_id: str = DEFAULT_FRAME_ID,
    start_s: float = DEFAULT_START_S,
    progress: bool = True,
) -> Path:
    """Like :func:`frames_to_bag` for frames already in memory (e.g. a synthetic sequence).

    Depth is metres, so the default 32FC1 keeps it exactly; 16UC1 rounds to the millimetre.
    ``count`` only sizes the progress bar.
    """
    if depth_encoding not in BAG_DEPTH_ENCODINGS:
        raise ValueError(f"unknown depth encoding {depth_encoding!r} (use one of {', '.join(BAG_DEPTH_ENCODINGS)})")
    encoded = ((sample, depth_to_buffer(sample.depth, depth_encoding)) for sample in samples)
    return _write_camera_bag(encoded, Path(output), count=count, rate_hz=rate_hz, storage=storage, namespace=namespace,
                             intrinsics=intrinsics, frame_id=frame_id, start_s=start_s, progress=progress)


def bag_to_frames(
    bag: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    depth_topic: str,
    color_topic: str | None = None,
    info_topic: str | None = None,
    progress: bool = True,
) -> int:
    """Write a bag's depth (and colour) frames as a ``frame-XXXXXX`` folder; return the frame count.

    Depth and colour are paired by header stamp; frames are numbered in the bag's order.
    Depth goes to 16-bit millimetre PNGs (0 = invalid; 16UC1 values come out as recorded,
    except that sentinels such as 65535 become 0, and 32FC1 is rounded to the millimetre),
    colour to lossless PNG, and the first camera_info's K to ``camera-intrinsics.txt``, so the
    folder reads back with ``datasets.discover_frames`` like any 7-Scenes sequence.
    """
    topics = [t for t in (depth_topic, color_topic, info_topic) if t]
    image_topics = [t for t in (depth_topic, color_topic) if t]
    output = Path(output)
    count = 0
    with open_bag(bag) as reader, atomic_directory(output) as staged:
        require_topics(reader, topics, bag)
        require_topics(reader, image_topics, bag, msgtype=IMAGE_TYPE)
        if info_topic:
            require_topics(reader, [info_topic], bag, msgtype=CAMERA_INFO_TYPE)
        staged.mkdir()
        if info_topic:
            _write_intrinsics(reader, info_topic, staged / "camera-intrinsics.txt", bag)
        messages = iter_messages(reader, image_topics)
        for _stamp, group in tqdm(match_by_stamp(messages, image_topics, required=[depth_topic]), unit="frame",
                                  desc=f"writing {output.name}", disable=not progress):
            name = f"frame-{count:06d}"
            write_depth(staged / f"{name}.depth.png", depth_from_msg(group[depth_topic]), scale=DEPTH_SCALES["mm"])
            if color_topic in group:
                write_color(staged / f"{name}.color.png", color_from_msg(group[color_topic]))
            count += 1
        if count == 0:
            raise BagError(f"{bag}: no messages on {depth_topic}")
    return count


def _write_intrinsics(reader: Reader, info_topic: str, path: Path, bag: str | os.PathLike[str]) -> None:
    """Write the first camera_info's K as a 3x3 matrix text file (the 7-Scenes format)."""
    for _topic, _log_ns, message in iter_messages(reader, [info_topic]):
        camera = CameraIntrinsics.from_camera_info(message)
        with atomic_output(path) as tmp:
            np.savetxt(tmp, camera.K, fmt="%.9g")
        return
    raise BagError(f"{bag}: no messages on {info_topic}")
