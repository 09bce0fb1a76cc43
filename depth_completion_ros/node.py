"""The ROS 2 node: raw depth (+ colour) in, completed depth out, latency bounded.

Data flow. The executor thread only does bookkeeping: it reads stamps, pairs depth with colour
(:class:`~depth_completion_ros.sync.ApproximatePairSync`, newest pair wins) and drops the pair
into a one-slot mailbox (:class:`~depth_completion_ros.sync.LatestSlot`). One worker thread
decodes, completes and publishes the newest pair; a pair the worker had no time for is replaced,
never queued, so latency cannot grow when completion is slower than the camera. (A
MultiThreadedExecutor would instead run several completions at once, out of order, each slower
for the shared cores, and still queue in the DDS readers.)

Bad input (unsupported encodings, truncated buffers, mismatched sizes, empty depth, stamps going
backwards, camera_info for another image size) is rejected, counted per reason, reported on
``/diagnostics`` and in throttled warnings; nothing wrong is published and the node keeps running.
Observed pixels are published as measured; only holes are filled (DepthCompleter's contract).
"""
from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from .diagnostics import Counters, LatencyWindow, RateMeter, make_status
from .geometry import CameraIntrinsics, resize_color
from .backends import BACKEND_KINDS
from .pipeline import FITS, LOW_CONFIDENCE, METHODS, Completion, DepthCompleter
from .pointcloud import depth_to_points, fill_pointcloud2_msg, pointcloud_buffer
from .qos import OUTPUT_QOS, QOS_MODES, MatchedSubscription, describe_publishers, policy_name
from .ros_image import (
    DEPTH_ENCODINGS,
    ImageEncodingError,
    color_from_msg,
    color_to_buffer,
    depth_from_msg,
    depth_to_buffer,
    fill_image_msg,
    float_to_buffer,
)
from .sync import ApproximatePairSync, LatestSlot, StampGuard, StampRejected, stamp_to_ns
from .visualization import colorize_depth

NODE_NAME = "depth_completion"

# Relative names: push the node into the camera's namespace or remap them (launch presets do).
DEPTH_TOPIC = "depth/image_raw"
COLOR_TOPIC = "color/image_raw"
CAMERA_INFO_TOPIC = "depth/camera_info"
OUT_DEPTH_TOPIC = "depth_completed/image_raw"
OUT_CAMERA_INFO_TOPIC = "depth_completed/camera_info"
OUT_CONFIDENCE_TOPIC = "depth_completed/confidence"
OUT_COLORIZED_TOPIC = "depth_completed/colorized"
OUT_POINTS_TOPIC = "depth_completed/points"
DIAGNOSTICS_TOPIC = "/diagnostics"
INPUT_TOPICS = (DEPTH_TOPIC, COLOR_TOPIC, CAMERA_INFO_TOPIC)
OUTPUT_TOPICS = (OUT_DEPTH_TOPIC, OUT_CAMERA_INFO_TOPIC, OUT_CONFIDENCE_TOPIC, OUT_COLORIZED_TOPIC, OUT_POINTS_TOPIC)

#: Methods that use colour when it comes but also work on depth alone.
COLOR_OPTIONAL_METHODS = ("classical", "interp")
BACKENDS = ("auto", *BACKEND_KINDS)
#: "" publishes the input's own encoding.
OUTPUT_ENCODINGS = ("", *DEPTH_ENCODINGS)

#: Why a message or frame was rejected (counted, reported, never published).
REJECT_REASONS = (
    "bad_depth_image",
    "bad_color_image",
    "size_mismatch",
    "empty_depth",
    "bad_camera_info",
    "camera_info_mismatch",
    "duplicate_stamp",
    "out_of_order",
    "processing_error",
)
#: Frames lost to keep latency bounded: no partner within the slop, or replaced before processing.
DROP_KINDS = ("unmatched_depth", "unmatched_color", "stale")
#: Seconds between repeats of the same warning.
WARN_PERIOD_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter: default, documentation and the limits enforced on every change."""

    name: str
    default: bool | int | float | str
    description: str
    read_only: bool = False
    choices: tuple[str, ...] = ()
    limits: tuple[float, float] | None = None

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(
            name=self.name,
            type=Parameter.Type.from_parameter_value(self.default).value,
            description=self.description,
            read_only=self.read_only,
        )
        if self.choices:
            descriptor.additional_constraints = "one of: " + ", ".join(repr(c) for c in self.choices)
        if self.limits is not None:
            low, high = self.limits
            if isinstance(self.default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
            else:
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
                ]
        return descriptor

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this parameter, or None."""
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} is not one of {', '.join(repr(c) for c in self.choices)}"
        if self.limits is not None and not self.limits[0] <= value <= self.limits[1]:
            return f"{self.name}={value!r} is outside [{self.limits[0]}, {self.limits[1]}]"
        return None


PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("method", "model", "Completion method: the CostDCNet model, classical hole filling, or "
                  "interpolation only. A model that cannot be loaded falls back to classical.", choices=METHODS),
    ParameterSpec("backend", "auto", "Inference backend for the model; auto picks the fastest available "
                  "(TensorRT, ONNX Runtime CUDA, ONNX Runtime CPU, PyTorch).", read_only=True, choices=BACKENDS),
    ParameterSpec("model_path", "", "Model file (.onnx, .pt checkpoint or TensorRT .engine); empty uses the "
                  "shipped model.", read_only=True),
    ParameterSpec("fit", "crop", "How a frame is fitted to the model's input: centre crop to its aspect ratio "
                  "(outside the crop is classical-filled), resize the whole frame, or full resolution.",
                  choices=FITS),
    ParameterSpec("interpolate", True, "Run the fast midpoint interpolation pass before the method."),
    ParameterSpec("confidence_threshold", 0.0, "Filled pixels whose confidence is below this are left as holes "
                  "(0 keeps every filled pixel; only methods that give a confidence use it).", limits=(0.0, 1.0)),
    ParameterSpec("low_confidence", "hole", "What replaces fills below confidence_threshold: leave a hole, or the "
                  "classical fill.", choices=LOW_CONFIDENCE),
    ParameterSpec("min_depth", 0.0, "Input depth below this many metres is treated as invalid.", limits=(0.0, 10.0)),
    ParameterSpec("require_color", True, "Pair depth with colour. False: work on depth alone. The classical and "
                  "interp methods also work on depth alone while the colour topic has no publisher.", read_only=True),
    ParameterSpec("resize_color", False, "Colour of another size than the depth: resize it to the depth "
                  "(only valid for colour registered to the depth view) instead of rejecting the frame."),
    ParameterSpec("slop", 0.02, "Largest stamp difference (s) between a depth and a colour image that are paired.",
                  limits=(0.0, 1.0)),
    ParameterSpec("queue_size", 5, "Unpaired messages kept per input while waiting for a partner.", limits=(1, 100)),
    ParameterSpec("depth_qos", "auto", "Reliability of the depth and camera_info subscriptions: auto matches "
                  "the publishers (reliable only if all of them are).", read_only=True, choices=QOS_MODES),
    ParameterSpec("color_qos", "auto", "Reliability of the colour subscription (as depth_qos).", read_only=True,
                  choices=QOS_MODES),
    ParameterSpec("output_encoding", "", "Encoding of the completed depth: 16UC1/mono16 (mm) or 32FC1 (m); "
                  "empty publishes the input's encoding.", choices=OUTPUT_ENCODINGS),
    ParameterSpec("colorize_min", 0.0, "Depth (m) drawn with the first colour of the colourised image.",
                  limits=(0.0, 100.0)),
    ParameterSpec("colorize_max", 10.0, "Depth (m) drawn with the last colour of the colourised image.",
                  limits=(0.0, 100.0)),
    ParameterSpec("pointcloud_color", True, "Colour the point cloud (xyzrgb) when colour is paired; else xyz."),
    ParameterSpec("input_timeout", 5.0, "Warn when an input has been silent this many seconds.", limits=(0.5, 600.0)),
)
PARAMETER_SPECS = {spec.name: spec for spec in PARAMETERS}


@dataclass(frozen=True)
class Settings:
    """A consistent snapshot of every parameter; replaced as a whole so threads never see half a change."""

    method: str
    backend: str
    model_path: str
    fit: str
    interpolate: bool
    confidence_threshold: float
    low_confidence: str
    min_depth: float
    require_color: bool
    resize_color: bool
    slop: float
    queue_size: int
    depth_qos: str
    color_qos: str
    output_encoding: str
    colorize_min: float
    colorize_max: float
    pointcloud_color: bool
    input_timeout: float

    def problems(self) -> list[str]:
        """Every reason these settings are not usable (empty when they are)."""
        found = [p for spec in PARAMETERS if (p := spec.problem(getattr(self, spec.name))) is not None]
        if self.method == "model" and not self.require_color:
            found.append("method 'model' needs colour: set require_color:=true or use classical/interp")
        if not self.colorize_min < self.colorize_max:
            found.append(f"colorize_min ({self.colorize_min}) must be below colorize_max ({self.colorize_max})")
        return found

    def completer_key(self) -> tuple[Any, ...]:
        """The settings a DepthCompleter is built from: a change means building a new one."""
        return (self.method, self.backend, self.model_path, self.fit, self.interpolate, self.confidence_threshold,
                self.low_confidence)


class ParameterError(ValueError):
    """The node was started with parameter values it cannot work with."""


@dataclass(frozen=True)
class _Frame:
    """What the worker needs for one output: the messages and when the pair became complete."""

    depth: Image
    color: Image | None
    camera_info: CameraInfo | None
    intrinsics: CameraIntrinsics | None
    received: float  # time.monotonic()


@dataclass(frozen=True)
class _ActiveCompleter:
    key: tuple[Any, ...]
    completer: DepthCompleter
    method: str
    #: Why the requested method is not the one running ("" when it is).
    fallback: str


class DepthCompletionNode(Node):
    """Subscribes to raw depth, colour and camera_info; publishes completed depth and its companions."""

    def __init__(self, **node_kwargs: Any) -> None:
        # First, so that destroy_node() works on a node whose start-up failed half-way.
        self._mailbox: LatestSlot[_Frame] = LatestSlot()
        self._worker: threading.Thread | None = None
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._settings = self._declare_parameters()
        except ParameterError:
            self.destroy_node()
            raise

        self._rejected = Counters(REJECT_REASONS)
        self._rates = {name: RateMeter() for name in ("depth", "color", "camera_info", "output")}
        self._latency = LatencyWindow()
        self._last_warned: dict[str, float] = {}
        self._rejected_at_last_report = self._rejected.snapshot()
        self._lost_at_last_report: dict[str, int] = {}
        self._started = time.monotonic()
        self.frames_published = 0
        #: Times the input stamps jumped back (a looping bag, a restarted driver) and pairing restarted.
        self.stamp_jumps = 0

        self._completer = self._build_completer(self._settings)
        self._sync: ApproximatePairSync[Image] = ApproximatePairSync(self._settings.slop, self._settings.queue_size)
        self._depth_alone_guard = StampGuard()
        self._camera_info: tuple[CameraInfo, CameraIntrinsics] | None = None

        self._pub_depth = self.create_publisher(Image, OUT_DEPTH_TOPIC, OUTPUT_QOS)
        self._pub_camera_info = self.create_publisher(CameraInfo, OUT_CAMERA_INFO_TOPIC, OUTPUT_QOS)
        self._pub_confidence = self.create_publisher(Image, OUT_CONFIDENCE_TOPIC, OUTPUT_QOS)
        self._pub_colorized = self.create_publisher(Image, OUT_COLORIZED_TOPIC, OUTPUT_QOS)
        self._pub_points = self.create_publisher(PointCloud2, OUT_POINTS_TOPIC, OUTPUT_QOS)
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)

        settings = self._settings
        self._inputs = {
            "depth": MatchedSubscription(self, Image, DEPTH_TOPIC, self._on_depth, settings.depth_qos, self._warn_qos),
            "camera_info": MatchedSubscription(
                self, CameraInfo, CAMERA_INFO_TOPIC, self._on_camera_info, settings.depth_qos, self._warn_qos
            ),
        }
        if settings.require_color:
            self._inputs["color"] = MatchedSubscription(
                self, Image, COLOR_TOPIC, self._on_color, settings.color_qos, self._warn_qos
            )
        self._color_has_publishers = bool("color" in self._inputs and self._inputs["color"].publishers())

        self.add_on_set_parameters_callback(self._on_set_parameters)
        # Steady clock: diagnostics and QoS re-matching must run even while sim time is paused.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_timer, clock=steady)
        self._worker = threading.Thread(target=self._work, name="depth_completion_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"completing {self._inputs['depth'].topic}"
            + (f" with colour {self._inputs['color'].topic}" if "color" in self._inputs else " (depth only)")
            + f" -> {self.resolve_topic_name(OUT_DEPTH_TOPIC)}"
        )

    def _declare_parameters(self) -> Settings:
        """Declare every parameter; ParameterError lists every bad start-up value at once."""
        problems = []
        for spec in PARAMETERS:
            try:
                self.declare_parameter(spec.name, spec.default, spec.descriptor())
            except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
                problems.append(str(exc))
                self.declare_parameter(spec.name, spec.default, spec.descriptor(), ignore_override=True)
        settings = Settings(**{spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS})
        problems += settings.problems()
        if problems:
            raise ParameterError("invalid parameters: " + "; ".join(problems))
        return settings

    # ---- counters, for diagnostics and tests -------------------------------------------------

    def rejected(self) -> dict[str, int]:
        """Messages or frames rejected so far, per reason (every reason listed)."""
        return self._rejected.snapshot()

    def dropped(self) -> dict[str, int]:
        """Frames dropped so far to keep latency bounded, per kind."""
        return {
            "unmatched_depth": self._sync.dropped[0],
            "unmatched_color": self._sync.dropped[1],
            "stale": self._mailbox.dropped,
        }

    def received(self) -> dict[str, int]:
        """Messages received so far per input (before any check)."""
        return {name: self._rates[name].total for name in self._inputs}

    def lost_in_transport(self) -> dict[str, int]:
        """Messages per input the middleware reports lost before delivery (best-effort inputs only)."""
        return {name: sub.lost for name, sub in self._inputs.items()}

    def input_reliability(self) -> dict[str, str]:
        """The reliability each input is subscribed with now (``auto`` follows the publishers)."""
        return {name: policy_name(sub.reliability) for name, sub in self._inputs.items()}

    def latest_intrinsics(self) -> CameraIntrinsics | None:
        """Intrinsics of the latest valid camera_info (None before the first)."""
        camera_info = self._camera_info
        return camera_info[1] if camera_info is not None else None

    def active_method(self) -> tuple[str, str]:
        """(method running now, why it differs from the requested one or "")."""
        return self._completer.method, self._completer.fallback

    # ---- executor thread: thin callbacks -------------------------------------------------------

    def _on_depth(self, msg: Image) -> None:
        self._rates["depth"].tick()
        if self._depth_alone():
            if self._accept_stamp(self._depth_alone_guard, msg):
                self._submit(msg, None, time.monotonic())
            return
        self._offer(0, msg)

    def _on_color(self, msg: Image) -> None:
        self._rates["color"].tick()
        self._offer(1, msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._rates["camera_info"].tick()
        try:
            intrinsics = CameraIntrinsics.from_camera_info(msg)
        except (ValueError, IndexError) as exc:
            self._reject("bad_camera_info", f"{self._inputs['camera_info'].topic}: {exc}")
            return
        self._camera_info = (msg, intrinsics)

    def _depth_alone(self) -> bool:
        if "color" not in self._inputs:
            return True
        return self._settings.method in COLOR_OPTIONAL_METHODS and not self._color_has_publishers

    def _accept_stamp(self, guard: StampGuard, msg: Image) -> bool:
        try:
            if guard.check(stamp_to_ns(msg.header.stamp)):
                self._stamp_jumped()
        except StampRejected as exc:
            self._reject(exc.reason, f"{self._inputs['depth'].topic}: {exc}")
            return False
        return True

    def _offer(self, index: int, msg: Image) -> None:
        time_jumps = self._sync.time_jumps
        try:
            pair = self._sync.add(index, stamp_to_ns(msg.header.stamp), msg)
        except StampRejected as exc:
            topic = self._inputs["depth" if index == 0 else "color"].topic
            self._reject(exc.reason, f"{topic}: {exc}")
            return
        if self._sync.time_jumps != time_jumps:
            self._stamp_jumped()
        if pair is not None:
            self._submit(pair[0], pair[1], time.monotonic())

    def _stamp_jumped(self) -> None:
        self.stamp_jumps += 1
        self.get_logger().info("input stamps jumped back (a looping bag or a restarted driver): starting over")

    def _submit(self, depth: Image, color: Image | None, received: float) -> None:
        camera_info = self._camera_info
        info, intrinsics = camera_info if camera_info is not None else (None, None)
        self._mailbox.put(_Frame(depth, color, info, intrinsics, received))

    # ---- worker thread: decode, complete, publish ----------------------------------------------

    def _work(self) -> None:
        while (frame := self._mailbox.get()) is not None:
            try:
                self._process(frame)
            except Exception as exc:  # one bad frame must never stop the worker
                self._reject("processing_error", f"{type(exc).__name__}: {exc}")

    def _process(self, frame: _Frame) -> None:
        settings = self._settings
        if self._completer.key != settings.completer_key():
            self._completer = self._build_completer(settings)
        decoded = self._decode(frame, settings)
        if decoded is not None:
            depth, rgb = decoded
            self._publish(frame, self._completer.completer.complete(depth, rgb), rgb, settings)

    def _decode(self, frame: _Frame, settings: Settings) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Depth (m) and colour (RGB) of a frame that passes every check; None (rejected, counted) otherwise."""
        topics = {name: sub.topic for name, sub in self._inputs.items()}
        try:
            depth = depth_from_msg(frame.depth, min_depth=settings.min_depth)
        except ImageEncodingError as exc:
            self._reject("bad_depth_image", f"{topics['depth']}: {exc}")
            return None
        height, width = depth.shape
        if not (depth > 0).any():
            self._reject("empty_depth", f"{topics['depth']}: no valid pixel in the {width}x{height} image")
            return None
        rgb = None
        if frame.color is not None:
            try:
                rgb = color_from_msg(frame.color)
            except ImageEncodingError as exc:
                self._reject("bad_color_image", f"{topics['color']}: {exc}")
                return None
            if rgb.shape[:2] != depth.shape:
                if not settings.resize_color:
                    self._reject(
                        "size_mismatch",
                        f"colour is {rgb.shape[1]}x{rgb.shape[0]} but depth is {width}x{height} (use a depth image "
                        f"registered to the colour camera, or set resize_color:=true if it already is)",
                    )
                    return None
                rgb = resize_color(rgb, width, height)
        if frame.intrinsics is not None and (frame.intrinsics.width, frame.intrinsics.height) != (width, height):
            self._reject(
                "camera_info_mismatch",
                f"{topics['camera_info']} is for {frame.intrinsics.width}x{frame.intrinsics.height} but depth is "
                f"{width}x{height} (is it the camera_info of this depth stream?)",
            )
            return None
        return depth, rgb

    def _publish(self, frame: _Frame, completion: Completion, rgb: np.ndarray | None, settings: Settings) -> None:
        """Completed depth first (latency is measured to it), then its companions; lazy ones only if wanted."""
        header = frame.depth.header
        encoding = settings.output_encoding or frame.depth.encoding
        self._pub_depth.publish(fill_image_msg(Image(header=header), depth_to_buffer(completion.depth, encoding)))
        self._latency.add(time.monotonic() - frame.received)
        self._rates["output"].tick()
        self.frames_published += 1

        if frame.camera_info is not None:
            self._pub_camera_info.publish(_with_header(frame.camera_info, header))
        if completion.confidence is not None:
            self._pub_confidence.publish(fill_image_msg(Image(header=header), float_to_buffer(completion.confidence)))
        if self._pub_colorized.get_subscription_count() > 0:
            colorized = colorize_depth(completion.depth, settings.colorize_min, settings.colorize_max)
            self._pub_colorized.publish(fill_image_msg(Image(header=header), color_to_buffer(colorized, "rgb8")))
        if self._pub_points.get_subscription_count() > 0:
            if frame.intrinsics is None:
                topic = self._inputs["camera_info"].topic
                self._warn("no_camera_info", f"no camera_info on {topic} yet: cannot publish points")
            else:
                points = depth_to_points(completion.depth, frame.intrinsics, rgb if settings.pointcloud_color else None)
                cloud = fill_pointcloud2_msg(PointCloud2(header=header), pointcloud_buffer(points), PointField)
                self._pub_points.publish(cloud)

    def _build_completer(self, settings: Settings) -> _ActiveCompleter:
        options = {
            "backend": settings.backend,
            "model_path": settings.model_path or None,
            "interpolate": settings.interpolate,
            "fit": settings.fit,
            "confidence_threshold": settings.confidence_threshold,
            "low_confidence": settings.low_confidence,
        }
        method, fallback = settings.method, ""
        try:
            completer = DepthCompleter(method=method, **options)
        except Exception as exc:  # backends fail with unrelated types (I/O, ONNX Runtime, TensorRT, torch)
            if method != "model":
                raise
            method = "classical"
            fallback = f"model could not be loaded ({type(exc).__name__}: {exc}); falling back to classical"
            self.get_logger().error(fallback)
            completer = DepthCompleter(method=method, **options)
        self.get_logger().info(f"depth completion: {completer.describe()}")
        return _ActiveCompleter(settings.completer_key(), completer, method, fallback)

    # ---- parameters ----------------------------------------------------------------------------

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in PARAMETER_SPECS}
        if not changes:
            return SetParametersResult(successful=True)
        updated = replace(self._settings, **changes)
        if problems := updated.problems():
            return SetParametersResult(successful=False, reason="; ".join(problems))
        self._sync.slop_s = updated.slop
        self._sync.queue_size = updated.queue_size
        self._settings = updated
        self.get_logger().info("parameters changed: " + ", ".join(f"{k}={v!r}" for k, v in changes.items()))
        return SetParametersResult(successful=True)

    # ---- diagnostics and warnings --------------------------------------------------------------

    def _on_timer(self) -> None:
        for subscription in self._inputs.values():
            subscription.refresh()
        if "color" in self._inputs:
            self._color_has_publishers = bool(self._inputs["color"].publishers())
        silent = self._silent_inputs()
        for name, text in silent.items():
            self._warn(f"silent_{name}", text)
        if losses := self._recent_losses():
            self._warn("lost_in_transport", losses)
        array = DiagnosticArray(status=[self._input_status(silent, losses), self._completion_status()])
        array.header.stamp = self.get_clock().now().to_msg()
        self._pub_diagnostics.publish(array)

    def _silent_inputs(self) -> dict[str, str]:
        """Inputs that have been silent longer than ``input_timeout``, with the likely reason."""
        now, timeout = time.monotonic(), self._settings.input_timeout
        silent = {}
        for name, subscription in self._inputs.items():
            since = self._rates[name].last or self._started
            if now - since <= timeout:
                continue
            publishers = subscription.publishers()
            if not publishers:
                hint = "no publishers: check the topic name, remapping and namespace"
            elif incompatible := subscription.incompatible_publishers():
                hint = (
                    f"{describe_publishers(incompatible)} cannot reach this RELIABLE subscription; "
                    f"set {'color' if name == 'color' else 'depth'}_qos:=auto or best_effort"
                )
            else:
                hint = f"{describe_publishers(publishers)} matched but not sending"
            silent[name] = f"no messages on {subscription.topic} for {now - since:.1f} s ({hint})"
        return silent

    def _recent_losses(self) -> str:
        """Messages lost in transport since the last report, as a warning ("" when none)."""
        lost = self.lost_in_transport()
        recent = _increase(self._lost_at_last_report, lost)
        self._lost_at_last_report = lost
        if not recent:
            return ""
        return (
            f"lost in transport in the last second: {_describe_counts(recent)} (best effort loses large "
            f"images under load: prefer reliable publishers and the 'auto' QoS mode)"
        )

    def _input_status(self, silent: dict[str, str], losses: str) -> DiagnosticStatus:
        values: dict[str, object] = {}
        for name, subscription in self._inputs.items():
            values[f"{name} topic"] = subscription.topic
            values[f"{name} rate (Hz)"] = self._rates[name].rate()
            values[f"{name} QoS"] = f"{policy_name(subscription.reliability)} ({subscription.mode})"
            values[f"{name} lost in transport"] = subscription.lost
        rejected = self._rejected.snapshot()
        values.update({f"rejected: {reason}": count for reason, count in rejected.items()})
        values["stamp jumps (restarts)"] = self.stamp_jumps
        recent_rejections = _increase(self._rejected_at_last_report, rejected)
        self._rejected_at_last_report = rejected
        problems = [*silent.values(), *([losses] if losses else [])]
        if recent_rejections:
            problems.append(f"rejected in the last second: {_describe_counts(recent_rejections)}")
        level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        message = "; ".join(problems) or "receiving"
        return make_status(f"{self.get_name()}: inputs", self.get_fully_qualified_name(), level, message, values)

    def _completion_status(self) -> DiagnosticStatus:
        active = self._completer
        output_rate = self._rates["output"].rate()
        latency = self._latency.summary()
        values: dict[str, object] = {
            "method (requested)": self._settings.method,
            "method (running)": active.method,
            "completer": active.completer.describe(),
            "fallback": active.fallback or "none",
            "output rate (Hz)": output_rate,
            "frames published": self.frames_published,
        }
        if latency is not None:
            values.update({"latency median (ms)": latency.median_ms, "latency p95 (ms)": latency.p95_ms,
                           "latency max (ms)": latency.max_ms})
        values.update({f"dropped: {kind}": count for kind, count in self.dropped().items()})
        if active.fallback:
            level, message = DiagnosticStatus.WARN, active.fallback
        else:
            level = DiagnosticStatus.OK
            message = f"{active.method} at {output_rate:.1f} Hz" + (
                f", latency {latency.median_ms:.1f} ms median" if latency is not None else ""
            )
        return make_status(f"{self.get_name()}: completion", self.get_fully_qualified_name(), level, message, values)

    def _reject(self, reason: str, detail: str) -> None:
        count = self._rejected.increment(reason)
        self._warn(reason, f"rejected ({reason}, {count} so far): {detail}")

    def _warn_qos(self, text: str) -> None:
        self._warn("incompatible_qos", text)

    def _warn(self, key: str, text: str) -> None:
        """Log ``text`` at most once per WARN_PERIOD_S for each ``key`` (safe from any thread)."""
        now = time.monotonic()
        if now - self._last_warned.get(key, -math.inf) >= WARN_PERIOD_S:
            self._last_warned[key] = now
            self.get_logger().warning(text)

    def destroy_node(self) -> None:
        """Stop the worker before the publishers it uses go away."""
        self._mailbox.close()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
        super().destroy_node()


def _increase(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The counts that grew since ``before``, by how much."""
    return {key: count - before.get(key, 0) for key, count in after.items() if count > before.get(key, 0)}


def _describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in counts.items())


def _with_header(msg: Any, header: Any) -> Any:
    """A copy of ``msg`` with ``header`` replaced (the stored original is shared with other threads)."""
    copy = type(msg)(**{name: getattr(msg, name) for name in msg.get_fields_and_field_types() if name != "header"})
    copy.header = header
    return copy


def main(args: list[str] | None = None) -> int:
    """``ros2 run depth_completion_ros depth_completion_node``: spin until Ctrl-C or SIGTERM."""
    rclpy.init(args=args)
    # Created before the node so that a signal arriving during start-up (the model may take
    # seconds to load) finds an executor to stop rather than a half-made one.
    executor = SingleThreadedExecutor()
    node = None
    try:
        node = DepthCompletionNode()
        executor.add_node(node)
        executor.spin()
    except ParameterError as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(exc))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C or SIGTERM during start-up shut the context down under the node being built.
    finally:
        if node is not None:
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
