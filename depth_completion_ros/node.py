"""The ROS 2 node: raw depth (+ colour) in, completed depth out, latency bounded.

Data flow. The executor thread only does bookkeeping: it reads stamps, pairs depth with colour
(:class:`~depth_completion_ros.sync.ApproximatePairSync`, newest pair wins) and drops the pair
into a one-slot mailbox (:class:`~depth_completion_ros.sync.LatestSlot`). Two threads then
work as a pipeline across the cores, in order, each on its own frame:

1. *completing*: decodes the newest pair, runs :meth:`DepthCompleter.prepare` (sanitising, the
   interpolation pass, a refining model's classical prior and working inputs) and
   :meth:`DepthCompleter.fill` (the method's own work: the classical fill, or the network);
2. *publishing*: :meth:`DepthCompleter.finish` (a refining model's correction at full
   resolution, the merge with the measured pixels), then encodes and publishes the outputs.

A pair the completing thread had no time for is replaced, never queued, and it waits rather
than queue a second frame for the publishing thread, so latency cannot grow when completion is
slower than the camera. (A third thread for the network alone, overlapping it with the next
frame's preparation, measured ~5-10 % more frames at twice the latency on 2 cores; a
MultiThreadedExecutor would run several completions at once, out of order, each slower for the
shared cores, and still queue in the DDS readers.)

Bad input (unsupported encodings, truncated buffers, mismatched sizes, empty depth, stamps going
backwards, camera_info for another image size) is rejected, counted per reason, reported on
``/diagnostics`` and in throttled warnings; nothing wrong is published and the node keeps running.
Observed pixels are published as measured; only holes are filled (DepthCompleter's contract).

This module is the wiring only: the parameters are the fields of ``node_settings`` (checked
there), input checks and decoding are ``rgbd_input``, completion is ``pipeline``, and the
meters and reports are ``diagnostics.NodeDiagnostics``.
"""
from __future__ import annotations

import ctypes
import dataclasses
import os
import platform
import queue
import signal
import sys
import threading
import time
from typing import Any

import cv2
import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from .diagnostics import CompletionReport, InputReport, NodeDiagnostics, WarningThrottle
from .geometry import CameraIntrinsics
from .node_settings import COLOR_OPTIONAL_METHODS, PARAMETERS, NodeSettings, SettingsError
from .options import CompleterOptions, OptionField
from .pipeline import Completion, CompletionWork, DepthCompleter
from .pointcloud import depth_to_points, fill_pointcloud2_msg, pointcloud_buffer
from .qos import OUTPUT_QOS, MatchedSubscription, policy_name
from .rgbd_input import INPUT_REJECT_REASONS, InputRejected, decode_rgbd, intrinsics_from_camera_info
from .ros_image import color_to_buffer, depth_to_buffer, fill_image_msg, float_to_buffer
from .sync import ApproximatePairSync, LatestSlot, StampGuard, StampRejected, stamp_to_ns
from .topics import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    DIAGNOSTICS_TOPIC,
    OUT_CAMERA_INFO_TOPIC,
    OUT_COLORIZED_TOPIC,
    OUT_CONFIDENCE_TOPIC,
    OUT_DEPTH_TOPIC,
    OUT_POINTS_TOPIC,
)
from .visualization import colorize_depth, robust_depth_range

NODE_NAME = "depth_completion"
#: Why a message or frame was rejected (counted, reported, never published).
REJECT_REASONS = (*INPUT_REJECT_REASONS, "duplicate_stamp", "out_of_order", "processing_error")
#: On machines with at most this many cores every OpenCV call runs on its calling thread.
SMALL_MACHINE_CORES = 2
#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`retain_freed_memory` sets: blocks up
#: to 32 MiB (glibc's largest mmap threshold on 64-bit; a 1920x1080 float32 frame is 8 MiB) come from
#: the heap, and up to 256 MiB of freed heap stays in the process.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 256 << 20
#: Seconds between repeats of the same warning.
WARN_PERIOD_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0


class ParameterError(ValueError):
    """The node was started with parameter values it cannot work with."""


def parameter_descriptor(option: OptionField) -> ParameterDescriptor:
    """The ROS parameter descriptor of one option: type, description, read-only flag and limits."""
    descriptor = ParameterDescriptor(
        name=option.name,
        type=Parameter.Type.from_parameter_value(option.default).value,
        description=option.spec.description,
        read_only=not option.spec.live,
    )
    if option.spec.choices:
        descriptor.additional_constraints = "one of: " + ", ".join(repr(c) for c in option.spec.choices)
    if option.spec.limits is not None:
        low, high = option.spec.limits
        if option.type is int:
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
    return descriptor


@dataclasses.dataclass(frozen=True)
class _Frame:
    """What the pipeline needs for one output: the messages and when the pair became complete."""

    depth: Image
    color: Image | None
    camera_info: CameraInfo | None
    intrinsics: CameraIntrinsics | None
    received: float  # time.monotonic()


@dataclasses.dataclass(frozen=True)
class _InProgress:
    """A decoded frame on its way through the pipeline's threads."""

    frame: _Frame
    work: CompletionWork[np.ndarray]
    #: The completer that prepared it completes it, whatever parameters changed in between.
    completer: DepthCompleter
    rgb: np.ndarray | None
    settings: NodeSettings


@dataclasses.dataclass(frozen=True)
class _ActiveCompleter:
    completer: DepthCompleter
    #: Why the requested method is not the one running ("" when it is).
    fallback: str


class DepthCompletionNode(Node):
    """Subscribes to raw depth, colour and camera_info; publishes completed depth and its companions."""

    def __init__(self, **node_kwargs: Any) -> None:
        # First, so that destroy_node() works on a node whose start-up failed half-way.
        self._mailbox: LatestSlot[_Frame] = LatestSlot()
        #: Filled frames on their way to the publishing thread; holding one makes the completing
        #: thread wait, so at most one frame waits and latency cannot grow.
        self._filled: queue.Queue[_InProgress | None] = queue.Queue(maxsize=1)
        #: completing, publishing (stopped in this order: the first tells the second).
        self._threads: list[threading.Thread] = []
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._settings = self._declare_parameters()
        except ParameterError:
            self.destroy_node()
            raise
        settings = self._settings.node
        self._warn = WarningThrottle(self.get_logger().warning, WARN_PERIOD_S)
        inputs = ("depth", "color", "camera_info") if settings.require_color else ("depth", "camera_info")
        self._diagnostics = NodeDiagnostics(self.get_name(), self.get_fully_qualified_name(), inputs, REJECT_REASONS)
        self._completer = self._build_completer(self._settings.completer)
        self._sync: ApproximatePairSync[Image] = ApproximatePairSync(settings.slop, settings.queue_size)
        self._depth_alone_guard = StampGuard()
        self._camera_info: tuple[CameraInfo, CameraIntrinsics] | None = None
        #: The newest input held until the first camera_info (wait_for_camera_info), and how many were dropped.
        self._held: tuple[Image, Image | None, float] | None = None
        self._dropped_without_camera_info = 0

        self._pub_depth = self.create_publisher(Image, OUT_DEPTH_TOPIC, OUTPUT_QOS)
        self._pub_camera_info = self.create_publisher(CameraInfo, OUT_CAMERA_INFO_TOPIC, OUTPUT_QOS)
        self._pub_confidence = self.create_publisher(Image, OUT_CONFIDENCE_TOPIC, OUTPUT_QOS)
        self._pub_colorized = self.create_publisher(Image, OUT_COLORIZED_TOPIC, OUTPUT_QOS)
        self._pub_points = self.create_publisher(PointCloud2, OUT_POINTS_TOPIC, OUTPUT_QOS)
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)

        def subscribe(msg_type: type, topic: str, callback: Any, qos_mode: str) -> MatchedSubscription:
            return MatchedSubscription(self, msg_type, topic, callback, qos_mode,
                                       lambda text: self._warn("incompatible_qos", text))

        self._inputs = {
            "depth": subscribe(Image, DEPTH_TOPIC, self._on_depth, settings.depth_qos),
            "camera_info": subscribe(CameraInfo, CAMERA_INFO_TOPIC, self._on_camera_info, settings.depth_qos),
        }
        if settings.require_color:
            self._inputs["color"] = subscribe(Image, COLOR_TOPIC, self._on_color, settings.color_qos)
        self._color_has_publishers = bool("color" in self._inputs and self._inputs["color"].publishers())

        self.add_on_set_parameters_callback(self._on_set_parameters)
        # Steady clock: diagnostics and QoS re-matching must run even while sim time is paused.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_timer, clock=steady)
        self._threads = [
            threading.Thread(target=loop, name=f"depth_completion_{name}", daemon=True)
            for name, loop in (("completing", self._complete_frames), ("publishing", self._publish_frames))
        ]
        for thread in self._threads:
            thread.start()
        self.get_logger().info(
            f"completing {self._inputs['depth'].topic}"
            + (f" with colour {self._inputs['color'].topic}" if "color" in self._inputs else " (depth only)")
            + f" -> {self.resolve_topic_name(OUT_DEPTH_TOPIC)}"
        )

    def _declare_parameters(self) -> NodeSettings:
        """Declare every parameter; ParameterError lists every bad start-up value at once."""
        problems = []
        for option in PARAMETERS:
            descriptor = parameter_descriptor(option)
            try:
                self.declare_parameter(option.name, option.default, descriptor)
            except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
                problems.append(str(exc))
                self.declare_parameter(option.name, option.default, descriptor, ignore_override=True)
        try:
            settings = NodeSettings.from_parameters({o.name: self.get_parameter(o.name).value for o in PARAMETERS})
        except SettingsError as exc:
            problems += exc.problems
        if problems:
            raise ParameterError("invalid parameters: " + "; ".join(problems))
        return settings

    # ---- counters, for diagnostics and tests -------------------------------------------------

    @property
    def frames_published(self) -> int:
        return self._diagnostics.frames_published

    @property
    def stamp_jumps(self) -> int:
        """Times the input stamps jumped back (a looping bag, a restarted driver) and pairing restarted."""
        return self._diagnostics.stamp_jumps

    def rejected(self) -> dict[str, int]:
        """Messages or frames rejected so far, per reason (every reason listed)."""
        return self._diagnostics.rejected.snapshot()

    def dropped(self) -> dict[str, int]:
        """Frames dropped so far to keep latency bounded, per kind."""
        return {
            "unmatched_depth": self._sync.dropped[0],
            "unmatched_color": self._sync.dropped[1],
            "stale": self._mailbox.dropped,
            "no_camera_info": self._dropped_without_camera_info,
        }

    def received(self) -> dict[str, int]:
        """Messages received so far per input (before any check)."""
        return {name: self._diagnostics.rates[name].total for name in self._inputs}

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
        return self._completer.completer.method, self._completer.fallback

    # ---- executor thread: thin callbacks -------------------------------------------------------

    def _on_depth(self, msg: Image) -> None:
        self._diagnostics.received("depth")
        if self._depth_alone():
            if self._accept_stamp(self._depth_alone_guard, msg):
                self._submit(msg, None, time.monotonic())
            return
        self._offer(0, msg)

    def _on_color(self, msg: Image) -> None:
        self._diagnostics.received("color")
        self._offer(1, msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._diagnostics.received("camera_info")
        try:
            intrinsics = intrinsics_from_camera_info(msg)
        except InputRejected as exc:
            self._reject(exc.reason, f"{self._inputs['camera_info'].topic}: {exc}")
            return
        self._camera_info = (msg, intrinsics)
        if self._held is not None:
            depth, color, received = self._held
            self._held = None
            if time.monotonic() - received <= self._settings.node.input_timeout:
                self._submit(depth, color, received)
            else:  # too old to be worth publishing now
                self._dropped_without_camera_info += 1

    def _depth_alone(self) -> bool:
        if "color" not in self._inputs:
            return True
        return self._settings.completer.method in COLOR_OPTIONAL_METHODS and not self._color_has_publishers

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
        self._diagnostics.stamp_jumps += 1
        self.get_logger().info("input stamps jumped back (a looping bag or a restarted driver): starting over")

    def _submit(self, depth: Image, color: Image | None, received: float) -> None:
        camera_info = self._camera_info
        if camera_info is None and self._settings.node.wait_for_camera_info:
            if self._held is not None:
                self._dropped_without_camera_info += 1
            self._held = (depth, color, received)
            topic = self._inputs["camera_info"].topic
            self._warn("waiting_for_camera_info", f"waiting for the first valid camera_info on {topic} "
                                                  f"(set wait_for_camera_info:=false to complete without one)")
            return
        info, intrinsics = camera_info if camera_info is not None else (None, None)
        self._mailbox.put(_Frame(depth, color, info, intrinsics, received))

    # ---- the pipeline's threads: decode, prepare and fill; finish and publish -------------------

    def _complete_frames(self) -> None:
        while (frame := self._mailbox.get()) is not None:
            try:
                item = self._prepare(frame)
                if item is not None:
                    self._filled.put(dataclasses.replace(item, work=item.completer.fill(item.work)))
            except Exception as exc:  # noqa: BLE001 - one bad frame must never stop the pipeline
                self._reject("processing_error", f"{type(exc).__name__}: {exc}")
        self._filled.put(None)

    def _publish_frames(self) -> None:
        while (item := self._filled.get()) is not None:
            try:
                self._publish(item.frame, item.completer.finish(item.work), item.rgb, item.settings)
            except Exception as exc:  # noqa: BLE001 - one bad frame must never stop the pipeline
                self._reject("processing_error", f"{type(exc).__name__}: {exc}")

    def _prepare(self, frame: _Frame) -> _InProgress | None:
        """The frame decoded and prepared, or None when its input was rejected (counted)."""
        settings = self._settings
        if self._completer.completer.options != settings.completer:
            self._completer = self._build_completer(settings.completer, reuse=self._completer.completer)
        options = settings.completer
        try:
            depth, rgb = decode_rgbd(frame.depth, frame.color, frame.intrinsics, min_depth=options.min_depth,
                                     max_depth=options.max_depth, resize_color_to_depth=settings.node.resize_color)
        except InputRejected as exc:
            where = f"{self._inputs[exc.source].topic}: " if exc.source else ""
            self._reject(exc.reason, f"{where}{exc}")
            return None
        completer = self._completer.completer
        return _InProgress(frame, completer.prepare(depth, rgb, sanitized=True), completer, rgb, settings)

    def _publish(
        self, frame: _Frame, completion: Completion[np.ndarray], rgb: np.ndarray | None, settings: NodeSettings
    ) -> None:
        """Completed depth first (latency is measured to it), then its companions; lazy ones only if wanted."""
        header = frame.depth.header
        encoding = settings.node.output_encoding or frame.depth.encoding
        self._pub_depth.publish(fill_image_msg(Image(header=header), depth_to_buffer(completion.depth, encoding)))
        self._diagnostics.published(time.monotonic() - frame.received)

        if frame.camera_info is not None:
            self._pub_camera_info.publish(_with_header(frame.camera_info, header))
        if completion.confidence is not None and self._pub_confidence.get_subscription_count() > 0:
            self._pub_confidence.publish(fill_image_msg(Image(header=header), float_to_buffer(completion.confidence)))
        if self._pub_colorized.get_subscription_count() > 0:
            if settings.node.colorize_range == "robust":
                color_range = robust_depth_range(completion.depth)
            else:
                color_range = (settings.node.colorize_min, settings.node.colorize_max)
            colorized = colorize_depth(completion.depth, *color_range)
            self._pub_colorized.publish(fill_image_msg(Image(header=header), color_to_buffer(colorized, "rgb8")))
        if self._pub_points.get_subscription_count() > 0:
            if frame.intrinsics is None:
                topic = self._inputs["camera_info"].topic
                self._warn("no_camera_info", f"no camera_info on {topic} yet: cannot publish points")
            else:
                colour = rgb if settings.node.pointcloud_color else None
                points = depth_to_points(completion.depth, frame.intrinsics, colour)
                self._pub_points.publish(fill_pointcloud2_msg(PointCloud2(header=header), pointcloud_buffer(points),
                                                              PointField))

    def _build_completer(self, options: CompleterOptions, reuse: DepthCompleter | None = None) -> _ActiveCompleter:
        """A completer for ``options``; the loaded model is reused while backend, model and device stay.

        A model that cannot be loaded falls back to the classical method (and says why).
        """
        backend = None
        if reuse is not None and reuse.backend is not None and reuse.options.backend_key() == options.backend_key():
            backend = reuse.backend
        fallback = ""
        try:
            completer = DepthCompleter(options, backend=backend)
        except Exception as exc:  # backends fail with unrelated types (I/O, ONNX Runtime, TensorRT, torch)
            if options.method != "model":
                raise
            fallback = f"model could not be loaded ({type(exc).__name__}: {exc}); falling back to classical"
            self.get_logger().error(fallback)
            completer = DepthCompleter(options, method="classical")
        self.get_logger().info(f"depth completion: {completer.describe()}")
        return _ActiveCompleter(completer, fallback)

    # ---- parameters ----------------------------------------------------------------------------

    def _on_set_parameters(self, parameters: list[Parameter[Any]]) -> SetParametersResult:
        names = {option.name for option in PARAMETERS}
        changes = {p.name: p.value for p in parameters if p.name in names}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            updated = self._settings.updated(changes)
        except SettingsError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._sync.slop_s = updated.node.slop
        self._sync.queue_size = updated.node.queue_size
        self._settings = updated
        self.get_logger().info("parameters changed: " + ", ".join(f"{k}={v!r}" for k, v in changes.items()))
        return SetParametersResult(successful=True)

    # ---- diagnostics and warnings --------------------------------------------------------------

    def _on_timer(self) -> None:
        for subscription in self._inputs.values():
            subscription.refresh()
        if "color" in self._inputs:
            self._color_has_publishers = bool(self._inputs["color"].publishers())
        problems = []
        for name, subscription in self._inputs.items():
            silent_s = self._diagnostics.silent_for(name)
            if silent_s > self._settings.node.input_timeout:
                hint = subscription.silence_hint("color_qos" if name == "color" else "depth_qos")
                problems.append(f"no messages on {subscription.topic} for {silent_s:.1f} s ({hint})")
                self._warn(f"silent_{name}", problems[-1])
        if losses := self._diagnostics.recent_losses(self.lost_in_transport()):
            self._warn("lost_in_transport", losses)
            problems.append(losses)
        inputs = {name: InputReport(sub.topic, sub.describe_qos(), sub.lost) for name, sub in self._inputs.items()}
        active = self._completer
        report = CompletionReport(self._settings.completer.method, active.completer.method,
                                  active.completer.describe(), active.fallback, self.dropped())
        array = DiagnosticArray(status=[self._diagnostics.input_status(inputs, problems),
                                        self._diagnostics.completion_status(report)])
        array.header.stamp = self.get_clock().now().to_msg()
        self._pub_diagnostics.publish(array)

    def _reject(self, reason: str, detail: str) -> None:
        count = self._diagnostics.reject(reason)
        self._warn(reason, f"rejected ({reason}, {count} so far): {detail}")

    def destroy_node(self) -> None:
        """Stop the pipeline's threads before the publishers they use go away."""
        self._mailbox.close()
        for thread in self._threads:  # the completing thread tells the publishing one to stop
            thread.join(timeout=10.0)
        super().destroy_node()


def _with_header(msg: Any, header: Any) -> Any:
    """A copy of ``msg`` with ``header`` replaced (the stored original is shared with other threads)."""
    copy = type(msg)(**{name: getattr(msg, name) for name in msg.get_fields_and_field_types() if name != "header"})
    copy.header = header
    return copy


class InterruptOnce:
    """SIGINT handler: the first Ctrl-C interrupts (start-up may be loading a model), later ones are
    ignored. Under ``ros2 launch`` a terminal's Ctrl-C reaches the node twice (from the terminal
    and forwarded by launch); the second must not break the clean-up the first started.

    :meth:`disarm` when the clean-up begins: rclpy's own handler stops the executor at once,
    while this one runs only at the interpreter's next check, so on a busy machine it can fire
    after ``spin`` has returned; a KeyboardInterrupt raised then would escape ``main`` and end
    the process by the signal (exit -2) instead of cleanly."""

    def __init__(self) -> None:
        self.interrupted = False

    def disarm(self) -> None:
        """From now on a SIGINT is ignored: nothing is left to interrupt."""
        self.interrupted = True

    def __call__(self, signum: int, frame: Any) -> None:
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt


def retain_freed_memory() -> bool:
    """Keep freed frame-sized buffers in the process for reuse (glibc only); True when applied.

    Every frame allocates and frees several megabyte-sized buffers on three threads (rclpy's
    message arrays, the decoded depth, the fill's temporaries, the encoded output). By default
    glibc returns blocks that large to the kernel when they are freed (mmap threshold, heap
    trimming), so the next frame's buffers are page-faulted and zeroed afresh: measured ~2,400-3,700
    page faults and ~7 ms of kernel time per 1920x1080 frame on the completing thread alone, a
    quarter of its time (docs/benchmarks.md). The cost is memory: the process keeps its peak
    working set (a few frames' worth) instead of giving it back between frames.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the C library this interpreter already runs on
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


def main(args: list[str] | None = None) -> int:
    """``ros2 run depth_completion_ros depth_completion_node``: spin until Ctrl-C or SIGTERM."""
    # Installed first: rclpy's own handler (which stops the executor) calls it after its own work.
    interrupt = InterruptOnce()
    signal.signal(signal.SIGINT, interrupt)
    retain_freed_memory()
    rclpy.init(args=args)
    if (os.cpu_count() or 1) <= SMALL_MACHINE_CORES:
        # The executor, completing and publishing threads already keep the cores busy; OpenCV's
        # own pool on top measured no faster and competes with them. torch's OpenMP threads spin
        # after every operation of the model's frame path and stalled the node for over a second
        # whenever another process held a core (docs/benchmarks.md); ONNX Runtime, which runs the
        # network, keeps its own pool.
        cv2.setNumThreads(1)
        torch.set_num_threads(1)
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
        interrupt.disarm()
        if node is not None:
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
