"""The depth completion node over real DDS (rclpy + Fast DDS on loopback), and its helper modules.

Every node test publishes generated Kinect-like frames (7-Scenes layout) from a driver node in the same namespace and
checks what comes out on the node's topics; the node runs the fast ``classical`` method.
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from ros_helpers import (
    BackgroundExecutor,
    Collector,
    camera_info_msg,
    color_msg,
    depth_msg,
    fresh_namespace,
    isolate_ros_network,
    qos,
    ros_context,
    wait_for,
    wait_for_subscribers,
)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.depth_io import DEFAULT_MAX_DEPTH
from depth_completion_ros.diagnostics import (
    CompletionReport,
    Counters,
    InputReport,
    LatencyWindow,
    NodeDiagnostics,
    RateMeter,
    WarningThrottle,
)
from depth_completion_ros.geometry import CameraIntrinsics
from depth_completion_ros.model import build_model, save_checkpoint
from depth_completion_ros.node import REJECT_REASONS, DepthCompletionNode, InterruptOnce, ParameterError
from depth_completion_ros.node_settings import PARAMETERS
from depth_completion_ros.pipeline import DepthCompleter
from depth_completion_ros.pointcloud import POINTFIELD_FLOAT32, depth_to_points, fill_pointcloud2_msg, pointcloud_buffer
from depth_completion_ros.qos import reliability_for
from depth_completion_ros.ros_image import depth_from_msg
from depth_completion_ros.visualization import colorize_depth, robust_depth_range

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MS = 1_000_000
RELIABLE, BEST_EFFORT = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT


# ---- helper modules, no DDS ----------------------------------------------------------------------


#: Allocates, writes and frees a 1920x1080 frame's worth of float32 buffers 20 times on a worker
#: thread (after one warm-up frame there) and prints the page faults that cost.
FRAME_BUFFER_FAULTS = """
import resource, sys, threading
import numpy as np
from depth_completion_ros.node import retain_freed_memory
print(retain_freed_memory() if sys.argv[1] == "retain" else False)
def frame():
    buffers = [np.ones((1080, 1920), np.float32) for _ in range(4)]
    del buffers
def work():
    frame()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        frame()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
worker = threading.Thread(target=work)
worker.start()
worker.join()
"""


def test_the_first_sigint_interrupts_and_none_does_once_the_clean_up_began():
    """A real SIGINT to this process: the first raises KeyboardInterrupt, a second is ignored, and a
    disarmed handler (main's clean-up) never raises, however late the interpreter runs it."""
    previous = signal.getsignal(signal.SIGINT)
    try:
        for disarmed in (False, True):
            handler = InterruptOnce()
            signal.signal(signal.SIGINT, handler)
            if disarmed:
                handler.disarm()
            else:
                with pytest.raises(KeyboardInterrupt):
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(1.0)  # the handler runs at the interpreter's next check
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            assert handler.interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings and page faults are Linux's")
def test_retained_freed_memory_saves_the_page_faults_of_every_frame():
    def faults(mode: str) -> tuple[str, int]:
        result = subprocess.run([sys.executable, "-c", FRAME_BUFFER_FAULTS, mode], capture_output=True, text=True,
                                check=True)
        applied, count = result.stdout.split()
        return applied, int(count)

    _, default_faults = faults("default")
    applied, retained_faults = faults("retain")
    if applied != "True":
        pytest.skip("not glibc: retain_freed_memory leaves malloc as it is")
    # Default glibc hands 8 MiB blocks back to the kernel: each frame faults megabytes in afresh.
    assert default_faults > 20 * 1000
    assert retained_faults < default_faults / 20


def test_points_back_project_through_the_intrinsics():
    intrinsics = CameraIntrinsics(fx=500.0, fy=400.0, cx=2.0, cy=1.0, width=5, height=3)
    depth = np.full((3, 5), 2.0, np.float32)
    depth[0, 0] = 0
    rgb = np.zeros((3, 5, 3), np.uint8)
    rgb[2, 4] = (255, 128, 1)
    points = depth_to_points(depth, intrinsics, rgb)
    assert points.shape == (3, 5)
    assert np.isnan(points["x"][0, 0]) and np.isnan(points["z"][0, 0])
    assert points["x"][2, 4] == pytest.approx((4 - 2.0) / 500.0 * 2.0)
    assert points["y"][2, 4] == pytest.approx((2 - 1.0) / 400.0 * 2.0)
    assert points["z"][2, 4] == 2.0
    assert points["rgb"][2, 4] == 0xFF8001


def test_pointcloud_message_layout_matches_the_points():
    intrinsics = CameraIntrinsics(fx=1.0, fy=1.0, cx=0.0, cy=0.0, width=4, height=2)
    points = depth_to_points(np.ones((2, 4), np.float32), intrinsics, np.zeros((2, 4, 3), np.uint8))
    msg = fill_pointcloud2_msg(PointCloud2(), pointcloud_buffer(points), PointField)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, POINTFIELD_FLOAT32, 1), ("y", 4, POINTFIELD_FLOAT32, 1), ("z", 8, POINTFIELD_FLOAT32, 1),
        ("rgb", 12, POINTFIELD_FLOAT32, 1),
    ]
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (2, 4, 16, 64)
    assert len(msg.data) == 2 * 64 and msg.is_dense is False
    back = np.frombuffer(bytes(msg.data), points.dtype).reshape(2, 4)
    np.testing.assert_array_equal(back["x"], points["x"])


def test_points_refuse_intrinsics_of_another_size():
    with pytest.raises(ValueError, match="intrinsics are for 4x2"):
        depth_to_points(np.ones((3, 4), np.float32), CameraIntrinsics(1.0, 1.0, 0.0, 0.0, 4, 2))


@pytest.mark.parametrize(
    "mode, publishers, expected",
    [
        ("auto", [], BEST_EFFORT),
        ("auto", [RELIABLE, RELIABLE], RELIABLE),
        ("auto", [RELIABLE, BEST_EFFORT], BEST_EFFORT),
        ("reliable", [BEST_EFFORT], RELIABLE),
        ("best_effort", [RELIABLE], BEST_EFFORT),
    ],
)
def test_reliability_follows_the_mode_and_the_publishers(mode, publishers, expected):
    assert reliability_for(mode, publishers) == expected


def test_node_diagnostics_report_what_changed_since_the_last_report():
    now = [100.0]
    diagnostics = NodeDiagnostics("dc", "/ns/dc", ["depth"], ["empty_depth"], clock=lambda: now[0])
    inputs = {"depth": InputReport("/ns/depth/image_raw", "RELIABLE (auto)", lost=0)}
    for _ in range(31):
        diagnostics.received("depth")
        now[0] += 1 / 30
    diagnostics.published(0.012)
    diagnostics.reject("empty_depth")
    first = diagnostics.input_status(inputs, [])
    values = {kv.key: kv.value for kv in first.values}
    assert first.level == DiagnosticStatus.WARN and "1 empty_depth" in first.message
    assert float(values["depth rate (Hz)"]) == pytest.approx(30.0, rel=0.05) and values["rejected: empty_depth"] == "1"
    second = diagnostics.input_status(inputs, [])  # nothing new since the previous report
    assert second.level == DiagnosticStatus.OK and second.message == "receiving"
    now[0] += 7.0
    assert diagnostics.silent_for("depth") == pytest.approx(7.0, abs=0.05)
    assert "2 depth" in diagnostics.recent_losses({"depth": 2}) and diagnostics.recent_losses({"depth": 2}) == ""
    completion = diagnostics.completion_status(CompletionReport("model", "classical", "method=classical",
                                                                "model could not be loaded", {"stale": 3}))
    values = {kv.key: kv.value for kv in completion.values}
    assert completion.level == DiagnosticStatus.WARN and completion.message == "model could not be loaded"
    assert values["frames published"] == "1" and values["latency median (ms)"] == "12.00"
    assert values["dropped: stale"] == "3"


def test_warnings_are_throttled_per_kind():
    now, logged = [0.0], []
    warn = WarningThrottle(logged.append, period_s=5.0, clock=lambda: now[0])
    warn("a", "first a")
    warn("a", "second a")  # within the period: dropped
    warn("b", "first b")
    now[0] += 5.0
    warn("a", "third a")
    assert logged == ["first a", "first b", "third a"]


def test_rate_latency_and_counters():
    now = [0.0]
    meter = RateMeter(window_s=2.0, clock=lambda: now[0])
    for _ in range(31):
        meter.tick()
        now[0] += 1 / 30
    assert meter.rate() == pytest.approx(30.0, rel=0.05)
    now[0] += 5.0
    assert meter.rate() == 0.0 and meter.total == 31
    window = LatencyWindow(size=100)
    for ms in range(1, 201):
        window.add(ms / 1e3)
    summary = window.summary()
    assert summary.count == 100 and summary.max_ms == pytest.approx(200.0) and summary.median_ms == pytest.approx(150.5)
    counters = Counters(["a", "b"])
    counters.increment("a", 2)
    assert counters.snapshot() == {"a": 2, "b": 0}
    with pytest.raises(KeyError, match="unknown counter 'c'"):
        counters.increment("c")


# ---- the node over DDS ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ros():
    with ros_context() as context:
        executor = BackgroundExecutor(context)
        yield executor
        executor.shutdown()


@pytest.fixture(scope="module")
def kitchen(generated_kitchen):
    """Three generated 640x480 Kinect-like frames (depth with holes, colour, intrinsics)."""
    return [load_frame(frame) for frame in discover_frames(generated_kitchen)[:3]]


class Rig:
    """A node under test in a fresh namespace, a driver node feeding it, and collectors on its outputs."""

    def __init__(
        self,
        ros: BackgroundExecutor,
        publisher_reliability: ReliabilityPolicy = RELIABLE,
        with_color: bool = True,
        matched: bool = True,
        intrinsics: CameraIntrinsics | None = None,
        **params,
    ) -> None:
        self.ros = ros
        self.namespace = fresh_namespace()
        params.setdefault("method", "classical")
        self.driver = ros.add(Node("driver", namespace=self.namespace, context=ros.context))
        profile = qos(publisher_reliability)
        self.depth_pub = self.driver.create_publisher(Image, "depth/image_raw", profile)
        self.color_pub = self.driver.create_publisher(Image, "color/image_raw", profile) if with_color else None
        self.info_pub = self.driver.create_publisher(CameraInfo, "depth/camera_info", profile)
        self.node = DepthCompletionNode(
            context=ros.context,
            namespace=self.namespace,
            parameter_overrides=[Parameter(name, value=value) for name, value in params.items()],
        )
        ros.add(self.node)
        self.depth_out = Collector(self.driver, Image, "depth_completed/image_raw")
        self.info_out = Collector(self.driver, CameraInfo, "depth_completed/camera_info")
        inputs = [self.depth_pub, self.info_pub] + ([self.color_pub] if self.color_pub else [])
        for publisher in inputs if matched else ():
            wait_for_subscribers(publisher)
        output = f"{self.namespace}/depth_completed/image_raw"
        wait_for(lambda: self.driver.count_publishers(output) == 1, what="node outputs")
        self.next_stamp = 1_000 * 1_000_000_000
        if intrinsics is not None:
            self.send_camera_info(intrinsics)

    def stamp(self) -> int:
        """A new stamp, 33 ms after the previous one."""
        self.next_stamp += 33 * MS
        return self.next_stamp

    def send_camera_info(self, intrinsics: CameraIntrinsics) -> None:
        self.info_pub.publish(camera_info_msg(intrinsics, self.next_stamp))
        wait_for(lambda: self.node.latest_intrinsics() == intrinsics, what="camera_info at the node")

    def send(self, depth: Image, color: Image | None = None) -> None:
        self.depth_pub.publish(depth)
        if color is not None:
            self.color_pub.publish(color)

    def send_sample(self, sample, stamp: int, encoding: str = "16UC1") -> None:
        self.send(depth_msg(sample.depth, stamp, encoding), color_msg(sample.rgb, stamp) if self.color_pub else None)

    def close(self) -> None:
        self.ros.remove(self.node)
        self.ros.remove(self.driver)


@pytest.fixture
def make_rig(ros, kitchen):
    """Rigs whose node has had the kitchen camera's camera_info (as from any camera driver) unless
    ``intrinsics=None``."""
    rigs = []

    def make(**kwargs) -> Rig:
        kwargs.setdefault("intrinsics", kitchen[0].intrinsics)
        rigs.append(Rig(ros, **kwargs))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def _observed_kept_and_holes_filled(raw: np.ndarray, completed: np.ndarray, tolerance: float) -> None:
    observed = raw > 0
    assert (~observed).sum() > 1000, "the real frame should have holes to fill"
    assert np.abs(completed[observed] - raw[observed]).max() <= tolerance
    assert (completed > 0).mean() > 0.99
    assert (completed[~observed] > 0).mean() > 0.95


def test_completes_real_frames_with_the_input_stamp_frame_and_encoding(make_rig, kitchen):
    rig = make_rig()
    rig.send_camera_info(kitchen[0].intrinsics)
    for sample in kitchen[:2]:
        stamp = rig.stamp()
        rig.send_sample(sample, stamp)
        out = rig.depth_out.wait_for_stamp(stamp)
        assert out.header.frame_id == "camera_depth_optical_frame" and out.encoding == "16UC1"
        assert (out.width, out.height) == (640, 480)
        _observed_kept_and_holes_filled(sample.depth, depth_from_msg(out), tolerance=0.0)
        info = rig.info_out.wait_for_stamp(stamp)
        assert info.header.frame_id == out.header.frame_id
        assert CameraIntrinsics.from_camera_info(info) == kitchen[0].intrinsics
    assert rig.node.frames_published == 2
    assert sum(rig.node.rejected().values()) == 0


def test_32fc1_with_nan_and_inf_is_sanitised_and_completed(make_rig, kitchen):
    rig = make_rig(with_color=False, require_color=False)
    depth = kitchen[0].depth.copy()
    msg = depth_msg(depth, rig.stamp(), "32FC1")
    wire = np.frombuffer(bytes(msg.data), np.float32).reshape(depth.shape).copy()
    wire[100:110, 100:110] = np.inf
    wire[200:210, 200:210] = -1.0
    msg.data = wire.tobytes()
    depth[100:110, 100:110] = 0
    depth[200:210, 200:210] = 0
    rig.send(msg)
    out = rig.depth_out.wait_for_stamp(rig.next_stamp)
    assert out.encoding == "32FC1"
    completed = np.frombuffer(bytes(out.data), np.float32).reshape(depth.shape)
    assert np.isfinite(completed[100:110, 100:110]).all() and (completed[200:210, 200:210] > 0).all()
    _observed_kept_and_holes_filled(depth, np.nan_to_num(completed), tolerance=0.0)


def test_output_encoding_parameter(make_rig, kitchen):
    rig = make_rig(output_encoding="32FC1")
    rig.send_sample(kitchen[0], rig.stamp(), "16UC1")
    out = rig.depth_out.wait_for_stamp(rig.next_stamp)
    assert out.encoding == "32FC1"
    _observed_kept_and_holes_filled(kitchen[0].depth, depth_from_msg(out), tolerance=5e-4)


@pytest.fixture(scope="module")
def bad_input_rig(ros, kitchen):
    rig = Rig(ros, intrinsics=kitchen[0].intrinsics)
    yield rig
    rig.close()


def _truncated(msg: Image) -> Image:
    msg.data = bytes(msg.data)[: len(msg.data) // 2]
    return msg


def _bad_depth_encoding(msg: Image) -> Image:
    msg.encoding = "8UC1"
    return msg


def _bad_color_encoding(msg: Image) -> Image:
    msg.encoding = "yuv422"
    return msg


SMALL_RGB = np.zeros((240, 320, 3), np.uint8)
BAD_INPUTS = {
    # case: (reason, count, how to spoil the (depth, colour) pair)
    "unsupported depth encoding": ("bad_depth_image", 1, lambda d, c, s: (_bad_depth_encoding(d), c)),
    "truncated depth": ("bad_depth_image", 1, lambda d, c, s: (_truncated(d), c)),
    "unsupported colour encoding": ("bad_color_image", 1, lambda d, c, s: (d, _bad_color_encoding(c))),
    "truncated colour": ("bad_color_image", 1, lambda d, c, s: (d, _truncated(c))),
    "colour of another size": ("size_mismatch", 1, lambda d, c, s: (d, color_msg(SMALL_RGB, s))),
    "all-zero depth": ("empty_depth", 1, lambda d, c, s: (depth_msg(np.zeros((480, 640), np.float32), s), c)),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_frames_are_rejected_counted_and_never_published(bad_input_rig, kitchen, case):
    rig = bad_input_rig
    reason, count, spoil = BAD_INPUTS[case]
    before = rig.node.rejected()
    bad_stamp = rig.stamp()
    depth, color = spoil(depth_msg(kitchen[0].depth, bad_stamp), color_msg(kitchen[0].rgb, bad_stamp), bad_stamp)
    rig.send(depth, color)
    wait_for(lambda: rig.node.rejected()[reason] == before[reason] + count, what=f"{reason} counted")
    good_stamp = rig.stamp()
    rig.send_sample(kitchen[1], good_stamp)
    rig.depth_out.wait_for_stamp(good_stamp)  # the node is alive and still completing
    assert rig.depth_out.with_stamp(bad_stamp) == []
    after = rig.node.rejected()
    assert {r: after[r] - before[r] for r in REJECT_REASONS if after[r] != before[r]} == {reason: count}


@pytest.mark.parametrize("reason, offset_ms", [("duplicate_stamp", 0), ("out_of_order", -10)])
def test_repeated_or_backward_stamps_are_rejected(bad_input_rig, kitchen, reason, offset_ms):
    rig = bad_input_rig
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    rig.depth_out.wait_for_stamp(stamp)
    before = rig.node.rejected()[reason]
    rig.send_sample(kitchen[1], stamp + offset_ms * MS)
    wait_for(lambda: rig.node.rejected()[reason] == before + 2, what=f"depth and colour counted as {reason}")
    assert len(rig.depth_out.with_stamp(stamp)) == 1


def test_a_jump_back_in_time_restarts_pairing_instead_of_rejecting_everything(make_rig, kitchen):
    rig = make_rig()
    first = rig.stamp()
    rig.send_sample(kitchen[0], first)
    rig.depth_out.wait_for_stamp(first)
    looped = first - 30 * 10**9  # a bag starting over
    rig.send_sample(kitchen[1], looped)
    rig.depth_out.wait_for_stamp(looped)
    assert rig.node.stamp_jumps == 1
    assert rig.node.rejected()["out_of_order"] == 0


def test_camera_info_of_another_size_rejects_frames_until_a_matching_one_comes(bad_input_rig, kitchen):
    rig = bad_input_rig
    rig.send_camera_info(kitchen[0].intrinsics.scaled(320, 240))
    before = rig.node.rejected()["camera_info_mismatch"]
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    wait_for(lambda: rig.node.rejected()["camera_info_mismatch"] == before + 1, what="camera_info_mismatch counted")
    rig.send_camera_info(kitchen[0].intrinsics)
    good = rig.stamp()
    rig.send_sample(kitchen[0], good)
    rig.depth_out.wait_for_stamp(good)
    assert rig.depth_out.with_stamp(stamp) == []


@pytest.mark.parametrize("k_index, value", [(0, 0.0), (0, -525.0), (0, math.inf), (4, math.nan), (2, math.inf)],
                         ids=["fx=0", "fx<0", "fx=inf", "fy=nan", "cx=inf"])
def test_invalid_camera_info_is_rejected_and_the_last_good_one_kept(bad_input_rig, kitchen, k_index, value):
    rig = bad_input_rig
    before = rig.node.rejected()["bad_camera_info"]
    broken = camera_info_msg(kitchen[0].intrinsics, rig.next_stamp)
    k = list(broken.k)
    k[k_index] = value
    broken.k = k
    rig.info_pub.publish(broken)
    wait_for(lambda: rig.node.rejected()["bad_camera_info"] == before + 1, what="bad_camera_info counted")
    assert rig.node.latest_intrinsics() == kitchen[0].intrinsics
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    republished = rig.info_out.wait_for_stamp(stamp)  # the good camera_info goes out, never the broken one
    assert CameraIntrinsics.from_camera_info(republished) == kitchen[0].intrinsics


def test_inputs_before_the_first_camera_info_wait_for_it(make_rig, kitchen):
    rig = make_rig(intrinsics=None)
    stamps = [rig.stamp() for _ in range(3)]
    for stamp in stamps:
        rig.send_sample(kitchen[0], stamp)
    wait_for(lambda: rig.node.dropped()["no_camera_info"] == 2, what="older pairs dropped while waiting")
    assert rig.depth_out.messages == [] and rig.node.frames_published == 0
    rig.send_camera_info(kitchen[0].intrinsics)
    out = rig.depth_out.wait_for_stamp(stamps[-1])  # the newest pair, completed once camera_info came
    info = rig.info_out.wait_for_stamp(stamps[-1])
    assert info.header == out.header and CameraIntrinsics.from_camera_info(info) == kitchen[0].intrinsics
    assert [m.header.stamp for m in rig.depth_out.messages] == [out.header.stamp]


def test_without_waiting_inputs_go_out_before_any_camera_info(make_rig, kitchen):
    rig = make_rig(intrinsics=None, wait_for_camera_info=False)
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    rig.depth_out.wait_for_stamp(stamp)
    time.sleep(0.2)
    assert rig.info_out.messages == [] and rig.node.dropped()["no_camera_info"] == 0


def test_resize_color_accepts_colour_of_another_size(make_rig, kitchen):
    rig = make_rig(resize_color=True)
    stamp = rig.stamp()
    small = kitchen[0].rgb[::2, ::2].copy()
    rig.send(depth_msg(kitchen[0].depth, stamp), color_msg(small, stamp))
    rig.depth_out.wait_for_stamp(stamp)
    assert rig.node.rejected()["size_mismatch"] == 0


def test_a_backlog_is_dropped_and_the_newest_frame_always_comes_out(make_rig, kitchen):
    rig = make_rig()
    stamps = [rig.stamp() for _ in range(15)]
    for stamp in stamps:  # a burst far faster than the worker completes frames
        rig.send_sample(kitchen[0], stamp)
    rig.depth_out.wait_for_stamp(stamps[-1], timeout=10.0)
    time.sleep(0.2)
    published = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in rig.depth_out.messages]
    assert published == sorted(published) and published[-1] == stamps[-1]
    dropped = rig.node.dropped()
    assert dropped["stale"] > 0, "the worker should have skipped frames rather than queue them"
    # Frames the node received were published or counted; DDS may also overwrite its reader history.
    assert len(published) + dropped["stale"] + dropped["unmatched_depth"] <= len(stamps)


@pytest.mark.parametrize("publisher_reliability", [RELIABLE, BEST_EFFORT])
def test_auto_qos_matches_the_publishers(make_rig, kitchen, publisher_reliability):
    rig = make_rig(publisher_reliability=publisher_reliability)
    expected = ReliabilityPolicy(publisher_reliability).name
    wait_for(lambda: set(rig.node.input_reliability().values()) == {expected}, what=f"inputs subscribed {expected}")
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    rig.depth_out.wait_for_stamp(stamp)


#: Run in another process: Fast DDS hands messages between nodes of one process without UDP.
BURST_PUBLISHER = """
import sys, time
import numpy as np, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("burst", namespace=sys.argv[1])
best_effort = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
publisher = node.create_publisher(Image, "depth/image_raw", best_effort)
depth = np.random.default_rng(0).integers(500, 4000, (1080, 1920), dtype=np.uint16)
msg = Image(height=1080, width=1920, encoding="16UC1", step=3840, data=depth.tobytes())
while publisher.get_subscription_count() == 0:
    time.sleep(0.05)
time.sleep(0.5)
for k in range(int(sys.argv[2])):
    msg.header.stamp.sec = 100 + k
    publisher.publish(msg)
    time.sleep(0.005)
"""


def test_best_effort_losses_in_transport_are_counted_and_reported(make_rig):
    rig = make_rig(with_color=False, matched=False, require_color=False, method="interp", depth_qos="best_effort",
                   intrinsics=None)
    diagnostics = Collector(rig.driver, DiagnosticArray, "/diagnostics")
    sent = 60
    subprocess.run([sys.executable, "-c", BURST_PUBLISHER, rig.namespace, str(sent)], check=True, timeout=60)
    time.sleep(1.0)
    lost, received = rig.node.lost_in_transport()["depth"], rig.node.received()["depth"]
    if lost == 0:
        pytest.skip(f"no message was lost in transport on this machine ({received}/{sent} received)")
    assert received + lost <= sent

    def warned_with_the_total():
        return [
            s for s in _diagnostics_for(diagnostics, rig.node, ": inputs")
            if "lost in transport" in s.message and any(
                v.key == "depth lost in transport" and v.value == str(lost) for v in s.values
            )
        ]

    status = wait_for(warned_with_the_total, timeout=3.0, what="a transport-loss warning in /diagnostics")[-1]
    assert status.level == DiagnosticStatus.WARN


def _diagnostics_for(collector: Collector, node: DepthCompletionNode, name_suffix: str) -> list[DiagnosticStatus]:
    return [
        status
        for array in collector.messages
        for status in array.status
        if status.hardware_id == node.get_fully_qualified_name() and status.name.endswith(name_suffix)
    ]


def test_reliable_subscription_warns_about_best_effort_publishers(make_rig):
    rig = make_rig(publisher_reliability=BEST_EFFORT, matched=False, depth_qos="reliable", input_timeout=0.5,
                   intrinsics=None)
    diagnostics = Collector(rig.driver, DiagnosticArray, "/diagnostics")

    def warned():
        return [
            s for s in _diagnostics_for(diagnostics, rig.node, ": inputs")
            if s.level == DiagnosticStatus.WARN and "cannot reach this RELIABLE subscription" in s.message
        ]

    status = wait_for(warned, timeout=5.0, what="a QoS warning in /diagnostics")[0]
    assert "set depth_qos:=auto or best_effort" in status.message
    assert rig.node.input_reliability()["depth"] == "RELIABLE"


def test_diagnostics_report_rates_latency_and_method(make_rig, kitchen):
    rig = make_rig()
    diagnostics = Collector(rig.driver, DiagnosticArray, "/diagnostics")
    for sample in kitchen:
        stamp = rig.stamp()
        rig.send_sample(sample, stamp)
        rig.depth_out.wait_for_stamp(stamp)

    def reported():
        return [s for s in _diagnostics_for(diagnostics, rig.node, ": completion")
                if any(v.key == "frames published" and v.value == "3" for v in s.values)]

    status = wait_for(reported, timeout=5.0, what="completion diagnostics after 3 frames")[-1]
    values = {v.key: v.value for v in status.values}
    assert status.level == DiagnosticStatus.OK
    assert values["method (running)"] == "classical" and values["fallback"] == "none"
    assert float(values["latency median (ms)"]) > 0
    assert "dropped: stale" in values


def test_parameters_are_validated_and_applied_live(make_rig):
    rig = make_rig()
    node = rig.node

    def set_one(name, value):
        return node.set_parameters([Parameter(name, value=value)])[0]

    refused = set_one("method", "magic")
    assert not refused.successful and "unknown method 'magic'" in refused.reason
    refused = set_one("colorize_min", 20.0)
    assert not refused.successful and "below colorize_max" in refused.reason
    assert not set_one("confidence_threshold", 1.5).successful
    assert not set_one("backend", "torch").successful  # read-only: needs a restart
    assert not set_one("slop", "wide").successful  # wrong type
    assert set_one("slop", 0.05).successful and node.get_parameter("slop").value == 0.05
    assert set_one("method", "interp").successful
    assert node.get_parameter("method").value == "interp"


def test_a_method_change_takes_effect_on_the_next_frame(make_rig, kitchen):
    rig = make_rig()
    assert rig.node.set_parameters([Parameter("method", value="interp")])[0].successful
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    rig.depth_out.wait_for_stamp(stamp)
    assert rig.node.active_method() == ("interp", "")


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"colorize_min": 8.0, "colorize_max": 2.0}, "colorize_min .* must be below colorize_max"),
        ({"slop": 5.0}, "slop out of range"),
        ({"slop": 1}, "slop.*INTEGER.*DOUBLE"),
        ({"method": "model", "require_color": False}, "method 'model' needs colour"),
    ],
)
def test_bad_parameters_at_start_are_refused_with_the_reason(ros, overrides, reason):
    with pytest.raises(ParameterError, match=reason):
        DepthCompletionNode(
            context=ros.context,
            namespace=fresh_namespace(),
            parameter_overrides=[Parameter(name, value=value) for name, value in overrides.items()],
        )


def test_colorized_and_points_are_published_only_while_subscribed(make_rig, kitchen):
    rig = make_rig()
    rig.send_camera_info(kitchen[0].intrinsics)
    calls = {"colorized": 0, "points": 0}
    for name, publisher in (("colorized", rig.node._pub_colorized), ("points", rig.node._pub_points)):
        original = publisher.publish

        def counting(msg, name=name, original=original):
            calls[name] += 1
            original(msg)

        publisher.publish = counting
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    rig.depth_out.wait_for_stamp(stamp)
    assert calls == {"colorized": 0, "points": 0}

    colorized = Collector(rig.driver, Image, "depth_completed/colorized")
    points = Collector(rig.driver, PointCloud2, "depth_completed/points")
    wait_for(lambda: rig.node._pub_points.get_subscription_count() and rig.node._pub_colorized.get_subscription_count(),
             what="lazy outputs subscribed")
    stamp = rig.stamp()
    rig.send_sample(kitchen[1], stamp)
    image = colorized.wait_for_stamp(stamp)
    cloud = points.wait_for_stamp(stamp)
    assert image.encoding == "rgb8" and (image.width, image.height) == (640, 480)
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"] and (cloud.width, cloud.height) == (640, 480)
    completed = depth_from_msg(rig.depth_out.wait_for_stamp(stamp))
    # colorize_range robust (the default): the scale spans the frame's own 2-98 % depth range.
    colours = np.frombuffer(bytes(image.data), np.uint8).reshape(480, 640, 3)
    robust_colours = colorize_depth(completed, *robust_depth_range(completed))
    assert (colours == robust_colours).all(axis=2).mean() > 0.99  # the published depth is rounded to mm
    xyz = np.frombuffer(bytes(cloud.data), np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")]))
    z = xyz["z"].reshape(480, 640)
    np.testing.assert_allclose(np.nan_to_num(z), completed, atol=5e-4 + 1e-6)  # the image is in whole mm
    intr = kitchen[0].intrinsics
    v, u = 300, 500
    assert xyz["x"].reshape(480, 640)[v, u] == pytest.approx((u - intr.cx) / intr.fx * completed[v, u], rel=1e-5)


def test_depth_alone_when_colour_is_not_required(make_rig, kitchen):
    rig = make_rig(with_color=False, require_color=False)
    stamp = rig.stamp()
    rig.send(depth_msg(kitchen[0].depth, stamp))
    rig.depth_out.wait_for_stamp(stamp)
    assert "color" not in rig.node.input_reliability()


def test_classical_works_on_depth_alone_while_colour_has_no_publisher(make_rig, kitchen):
    rig = make_rig(with_color=False)  # require_color stays true
    stamp = rig.stamp()
    rig.send(depth_msg(kitchen[0].depth, stamp))
    rig.depth_out.wait_for_stamp(stamp)


def test_a_model_that_cannot_load_falls_back_to_classical(make_rig, kitchen, tmp_path):
    rig = make_rig(method="model", model_path=str(tmp_path / "missing.onnx"))
    method, reason = rig.node.active_method()
    assert method == "classical" and "missing.onnx" in reason
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    _observed_kept_and_holes_filled(kitchen[0].depth, depth_from_msg(rig.depth_out.wait_for_stamp(stamp)), 0.0)


def test_a_text_file_named_model_pt_is_named_in_the_fallback_reason(make_rig, tmp_path):
    text_file = tmp_path / "model.pt"
    text_file.write_text("not a checkpoint, just notes\n")
    rig = make_rig(method="model", backend="torch", model_path=str(text_file))
    method, reason = rig.node.active_method()
    assert method == "classical" and f"not a model checkpoint: {text_file}" in reason
    assert "IndexError" not in reason


@pytest.fixture
def tiny_model(tmp_path):
    """An untrained CostDCNet checkpoint with a 128x96 input: the model path without a slow network."""
    torch.manual_seed(0)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # two torch threads on a loaded two-core machine mostly spin
    yield save_checkpoint(tmp_path / "tiny.pt", build_model("costdcnet_cpu").eval(), input_size=[128, 96])
    torch.set_num_threads(previous)


def test_the_model_path_publishes_completed_depth_and_confidence(make_rig, kitchen, tiny_model):
    rig = make_rig(method="model", backend="torch", model_path=str(tiny_model))
    assert rig.node.active_method() == ("model", "")
    confidence_out = Collector(rig.driver, Image, "depth_completed/confidence")
    wait_for(lambda: rig.node._pub_confidence.get_subscription_count(), what="confidence subscribed")
    stamp = rig.stamp()
    rig.send_sample(kitchen[0], stamp)
    completed = depth_from_msg(rig.depth_out.wait_for_stamp(stamp, timeout=20.0))
    _observed_kept_and_holes_filled(kitchen[0].depth, completed, tolerance=0.0)
    confidence_msg = confidence_out.wait_for_stamp(stamp)
    assert confidence_msg.encoding == "32FC1"
    confidence = np.frombuffer(bytes(confidence_msg.data), np.float32).reshape(480, 640)
    assert np.all((confidence >= 0) & (confidence <= 1))
    assert np.all(confidence[kitchen[0].depth > 0] == 1.0)  # observed pixels are certain


def test_the_shipped_model_publishes_what_the_library_completes(make_rig, kitchen):
    """The node runs DepthCompleter's stages on two threads (prepare and fill; finish): each frame
    comes out exactly as one complete() call makes it, and nothing is rejected."""
    rig = make_rig(method="model", output_encoding="32FC1")
    completer = DepthCompleter("model")
    for sample in kitchen:
        stamp = rig.stamp()
        rig.send_sample(sample, stamp)
        completed = depth_from_msg(rig.depth_out.wait_for_stamp(stamp, timeout=20.0))
        decoded = depth_from_msg(depth_msg(sample.depth, stamp, "16UC1"))  # what the node received
        np.testing.assert_array_equal(completed, completer.complete(decoded, sample.rgb).depth)
    assert rig.node.frames_published == len(kitchen)
    assert sum(rig.node.rejected().values()) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_node_process_shuts_down_cleanly(sig):
    isolate_ros_network()
    process = subprocess.Popen(
        [sys.executable, "-m", "depth_completion_ros.node", "--ros-args", "-r", f"__ns:={fresh_namespace()}",
         "-p", "method:=classical"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("completing" in line for line in lines):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any("completing" in line for line in lines), "".join(lines)
        process.send_signal(sig)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_the_node_process_exits_with_the_reason_on_bad_parameters():
    isolate_ros_network()
    finished = subprocess.run(
        [sys.executable, "-m", "depth_completion_ros.node", "--ros-args", "-r", f"__ns:={fresh_namespace()}",
         "-p", "method:=classical", "-p", "queue_size:=0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert finished.returncode == 1
    assert "queue_size out of range" in finished.stderr + finished.stdout
    assert "Traceback" not in finished.stderr


def test_parameters_are_declared_from_the_option_fields(make_rig):
    node = make_rig().node
    names = [option.name for option in PARAMETERS]
    for option, descriptor in zip(PARAMETERS, node.describe_parameters(names), strict=True):
        assert descriptor.description == option.spec.description, option.name
        assert descriptor.read_only == (not option.spec.live), option.name
        if option.spec.choices:
            assert all(repr(choice) in descriptor.additional_constraints for choice in option.spec.choices)
    assert node.get_parameter("max_depth").value == DEFAULT_MAX_DEPTH


def _node_from_params_file(ros, path) -> DepthCompletionNode:
    return DepthCompletionNode(
        context=ros.context,
        namespace=fresh_namespace(),
        cli_args=["--ros-args", "--params-file", str(path)],
        parameter_overrides=[Parameter("method", value="classical")],
    )


def test_the_shipped_parameters_file_is_accepted_by_ros(ros, tmp_path):
    """rcl's own YAML parser reads config/params.yaml and the node starts from it (``.inf`` too)."""
    shipped = os.path.join(REPO_ROOT, "config", "params.yaml")
    edited = tmp_path / "params.yaml"
    with open(shipped) as source:
        edited.write_text(source.read().replace(f"max_depth: {DEFAULT_MAX_DEPTH}", "max_depth: .inf"))
    probe = _node_from_params_file(ros, edited)  # the file's values do reach the node
    try:
        assert probe.get_parameter("max_depth").value == math.inf
    finally:
        probe.destroy_node()
    node = _node_from_params_file(ros, shipped)
    try:
        values = {option.name: node.get_parameter(option.name).value for option in PARAMETERS}
        assert values == {option.name: option.default for option in PARAMETERS} | {"method": "classical"}
    finally:
        node.destroy_node()
