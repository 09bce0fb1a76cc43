"""rosbag2 tools on real frames: conversion round trips, info, errors, evaluation, play -> record over DDS."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from depth_completion_ros import cli
from depth_completion_ros.bags import (
    BagError,
    CameraTopics,
    bag_info,
    bag_to_frames,
    frame_stamp,
    frames_to_bag,
    open_bag,
)
from depth_completion_ros.bags.storage import BAG_VERSION, TYPESTORE, iter_messages, match_by_stamp
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.depth_io import UINT16_SENTINEL, read_color, read_depth_raw
from depth_completion_ros.geometry import CameraIntrinsics, read_intrinsics
from depth_completion_ros.ros_image import color_from_msg, depth_from_msg
from depth_completion_ros.sync import stamp_to_ns

#: 7-Scenes frames used throughout: the first four and frame 33, which holds 65535 sentinels.
FRAME_INDICES = (0, 1, 2, 3, 33)
MATTERPORT_INTRINSICS = CameraIntrinsics(fx=256.0, fy=256.0, cx=159.5, cy=127.5, width=320, height=256)
#: `depth-completion` in a subprocess (the console script need not be installed).
CLI = [sys.executable, "-m", "depth_completion_ros.cli"]


@pytest.fixture(scope="module")
def kitchen_frames(redkitchen_root):
    frames = discover_frames(redkitchen_root)
    return [frames[i] for i in FRAME_INDICES]


@pytest.fixture(scope="module")
def kitchen_bag(kitchen_frames, tmp_path_factory):
    return frames_to_bag(kitchen_frames, tmp_path_factory.mktemp("bags") / "kitchen", progress=False)


def read_topic(bag: Path, topic: str) -> list:
    with open_bag(bag) as reader:
        return [message for _, _, message in iter_messages(reader, [topic])]


def assert_frames_round_trip(original_frames, folder: Path) -> None:
    """A bag_to_frames folder holds the original depth (sentinels as 0) and colour exactly."""
    copies = discover_frames(folder)
    assert len(copies) == len(original_frames)
    for original, copy in zip(original_frames, copies, strict=True):
        raw = read_depth_raw(original.depth)
        np.testing.assert_array_equal(read_depth_raw(copy.depth), np.where(raw == UINT16_SENTINEL, 0, raw))
        np.testing.assert_array_equal(read_color(copy.color), read_color(original.color))
    height, width = read_depth_raw(original_frames[0].depth).shape
    written = read_intrinsics(folder / "camera-intrinsics.txt", width, height)
    assert written == read_intrinsics(original_frames[0].intrinsics_file, width, height)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_frames_to_bag_is_bit_exact(kitchen_frames, tmp_path, storage):
    bag = frames_to_bag(kitchen_frames, tmp_path / "bag", storage=storage, rate_hz=15.0, progress=False)
    topics = CameraTopics()
    depth_msgs = read_topic(bag, topics.depth)
    color_msgs = read_topic(bag, topics.color)
    info_msgs = read_topic(bag, topics.depth_info)
    assert len(depth_msgs) == len(color_msgs) == len(info_msgs) == len(kitchen_frames)
    intrinsics = read_intrinsics(kitchen_frames[0].intrinsics_file, 640, 480)
    for index, (frame, depth, color, info) in enumerate(zip(kitchen_frames, depth_msgs, color_msgs, info_msgs,
                                                            strict=True)):
        raw = read_depth_raw(frame.depth)
        assert depth.encoding == "16UC1" and not depth.is_bigendian
        np.testing.assert_array_equal(np.frombuffer(depth.data, "<u2").reshape(raw.shape), raw)  # sentinels kept
        np.testing.assert_array_equal(color_from_msg(color), read_color(frame.color))
        assert CameraIntrinsics.from_camera_info(info) == intrinsics
        stamps = {stamp_to_ns(m.header.stamp) for m in (depth, color, info)}
        assert stamps == {frame_stamp(index, 15.0)}
        assert depth.header.frame_id == "camera_color_optical_frame"
    assert (np.frombuffer(depth_msgs[-1].data, "<u2") == UINT16_SENTINEL).any()  # frame 33 really has sentinels
    info = bag_info(bag)
    assert info.storage == storage and info.message_count == 4 * len(kitchen_frames)
    assert bag_to_frames(bag, tmp_path / "frames", depth_topic=topics.depth, color_topic=topics.color,
                         info_topic=topics.depth_info, progress=False) == len(kitchen_frames)
    assert_frames_round_trip(kitchen_frames, tmp_path / "frames")


def test_matterport_needs_intrinsics_and_keeps_values_as_32fc1(matterport_root, tmp_path):
    with pytest.raises(BagError, match="--intrinsics"):
        frames_to_bag(matterport_root, tmp_path / "no_intrinsics", progress=False)
    assert not (tmp_path / "no_intrinsics").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left behind
    bag = frames_to_bag(matterport_root, tmp_path / "bag", intrinsics=MATTERPORT_INTRINSICS, progress=False)
    topics = CameraTopics()
    samples = [load_frame(frame) for frame in discover_frames(matterport_root)]
    depth_msgs, gt_msgs = read_topic(bag, topics.depth), read_topic(bag, topics.ground_truth)
    assert [m.encoding for m in depth_msgs + gt_msgs] == ["32FC1"] * 6
    for sample, depth, gt in zip(samples, depth_msgs, gt_msgs, strict=True):
        np.testing.assert_array_equal(depth_from_msg(depth), sample.depth)
        np.testing.assert_array_equal(depth_from_msg(gt), sample.gt)


def test_failed_conversion_leaves_no_bag(kitchen_frames, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for frame in kitchen_frames[:3]:
        for path in (frame.depth, frame.color):
            shutil.copy(path, broken / path.name)
    shutil.copy(kitchen_frames[0].intrinsics_file, broken)
    (broken / kitchen_frames[2].color.name).write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="cannot decode colour image"):
        frames_to_bag(broken, tmp_path / "out" / "bag", progress=False)
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(BagError, match="already exists"):
        frames_to_bag(kitchen_frames, broken, progress=False)


def test_from_frames_cli_converts_only_the_first_limit_frames(redkitchen_root, tmp_path, capsys):
    bag = tmp_path / "bag"
    assert cli.main(["bag", "from-frames", str(redkitchen_root), str(bag), "--limit", "2", "-q"]) == 0
    assert bag_info(bag).message_count == 8  # 2 frames x (depth, colour and their camera_info)
    with pytest.raises(SystemExit):
        cli.main(["bag", "from-frames", str(redkitchen_root), str(tmp_path / "other"), "--limit", "0"])
    assert "must be a positive integer" in capsys.readouterr().err


def test_info_lists_topics_counts_rates_and_sizes(kitchen_bag, capsys):
    assert cli.main(["bag", "info", str(kitchen_bag)]) == 0
    text = capsys.readouterr().out
    assert "storage:   mcap" in text and "messages:  20" in text
    assert f"duration:  {(frame_stamp(4) - frame_stamp(0)) / 1e9:.3f} s" in text
    for topic in CameraTopics().depth, CameraTopics().color, CameraTopics().depth_info, CameraTopics().color_info:
        line = next(line for line in text.splitlines() if line.strip().startswith(topic + " "))
        assert "5 msgs" in line and "30.00 Hz" in line and "qos reliable/volatile" in line
    size = sum(p.stat().st_size for p in kitchen_bag.iterdir())
    assert f"{size / 1024**2:.1f} MiB in 2 file(s)" in text


def _truncate(path: Path, keep: float) -> None:
    with path.open("r+b") as stream:
        stream.truncate(int(path.stat().st_size * keep))


@pytest.mark.parametrize("storage,suffix", [("mcap", ".mcap"), ("sqlite3", ".db3")])
@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_bags_give_a_clear_error(kitchen_frames, tmp_path, storage, suffix, keep):
    bag = frames_to_bag(kitchen_frames[:2], tmp_path / "bag", storage=storage, progress=False)
    _truncate(next(bag.glob(f"*{suffix}")), keep)
    with pytest.raises(BagError, match="truncated or corrupt"):
        read_topic(bag, CameraTopics().depth)


def test_missing_bags_and_topics_are_named(kitchen_bag, tmp_path):
    with pytest.raises(BagError, match="no such bag"):
        bag_info(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match=r"no metadata\.yaml"):
        bag_info(tmp_path / "empty")
    with pytest.raises(BagError, match=r"no topic /robot/depth .*it has: /camera/color/camera_info"):
        bag_to_frames(kitchen_bag, tmp_path / "frames", depth_topic="/robot/depth", progress=False)
    assert not (tmp_path / "frames").exists()


def test_undecodable_message_is_named(kitchen_bag, tmp_path):
    from rosbags.rosbag2 import Writer

    with open_bag(kitchen_bag) as reader:
        connection, _, raw = next(reader.messages([c for c in reader.connections if c.topic == CameraTopics().depth]))
    with Writer(tmp_path / "bag", version=BAG_VERSION) as writer:
        copy = writer.add_connection(connection.topic, connection.msgtype, typestore=TYPESTORE)
        writer.write(copy, 1, raw[:40])  # a cut-off message in an otherwise valid bag
    with pytest.raises(BagError, match=f"on {connection.topic} is not a valid sensor_msgs/msg/Image"):
        read_topic(tmp_path / "bag", connection.topic)


def test_cli_reports_bag_errors_in_one_line(kitchen_frames, tmp_path, capsys):
    bag = frames_to_bag(kitchen_frames[:1], tmp_path / "bag", progress=False)
    _truncate(next(bag.glob("*.mcap")), 0.5)
    for argv in (["info", str(tmp_path / "nowhere")], ["to-frames", str(bag), str(tmp_path / "frames")],
                 ["evaluate", str(bag), "--method", "interp"]):
        assert cli.main(["bag", *argv]) != 0
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and error.startswith("error: ")
        assert "no such bag" in error or "truncated or corrupt" in error


def test_match_by_stamp_pairs_topics_and_keeps_incomplete_required_groups():
    def message(topic: str, stamp: int):
        return topic, 0, SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(sec=0, nanosec=stamp)))

    stream = [message("d", 1), message("c", 1), message("c", 2), message("d", 3), message("d", 4), message("c", 4)]
    groups = list(match_by_stamp(stream, ["d", "c"], required=["d"], window=1))
    assert [(stamp, sorted(group)) for stamp, group in groups] == [(1, ["c", "d"]), (3, ["d"]), (4, ["c", "d"])]


def test_evaluate_against_ground_truth_topic_and_folder(matterport_root, tmp_path):
    from depth_completion_ros.bags.evaluate import evaluate_against_reference
    from depth_completion_ros.metrics import aggregate_metrics, depth_metrics

    bag = frames_to_bag(matterport_root, tmp_path / "bag", intrinsics=MATTERPORT_INTRINSICS, progress=False)
    topics = CameraTopics()
    samples = [load_frame(frame) for frame in discover_frames(matterport_root)]
    expected = aggregate_metrics(depth_metrics(s.depth, s.gt, raw=s.depth) for s in samples)
    # The raw depth stands in for a completed topic: the numbers are known independently.
    by_topic = evaluate_against_reference(bag, topics.depth, topics.ground_truth, raw_topic=topics.depth,
                                          progress=False)
    by_folder = evaluate_against_reference(bag, topics.depth, matterport_root, progress=False)
    for evaluation in by_topic, by_folder:
        assert evaluation.report.frames == 3 and evaluation.unscored == 0
        assert evaluation.report.metrics[topics.depth] == pytest.approx(expected, nan_ok=True)
    with pytest.raises(BagError, match="no frame could be scored"):
        evaluate_against_reference(bag, topics.depth, matterport_root, start_s=5.0, progress=False)


def test_evaluate_hidden_regions_matches_the_folder_protocol(kitchen_frames, kitchen_bag):
    from depth_completion_ros.bags.evaluate import evaluate_hidden_regions
    from depth_completion_ros.evaluation import evaluate_completer
    from depth_completion_ros.pipeline import DepthCompleter

    completer = DepthCompleter(method="classical")
    topics = CameraTopics()
    from_bag = evaluate_hidden_regions(kitchen_bag, completer, depth_topic=topics.depth, color_topic=topics.color,
                                       seed=7, progress=False)
    from_folder = evaluate_completer(kitchen_frames, completer, protocol="hidden", seed=7, progress=False)
    assert from_bag.report.protocol == "hidden" and from_bag.report.frames == len(kitchen_frames)
    assert from_bag.report.metrics["classical"] == from_folder.metrics["classical"]
    assert "**hole**" in from_bag.report.markdown()


def test_completed_topic_is_the_nodes_output():
    node = pytest.importorskip("depth_completion_ros.node")
    assert CameraTopics("/camera").completed == f"/camera/{node.OUT_DEPTH_TOPIC}"


@pytest.mark.ros
def test_play_then_record_over_dds(kitchen_frames, tmp_path):
    ros_helpers = pytest.importorskip("ros_helpers")
    ros_helpers.isolate_ros_network()
    namespace = ros_helpers.fresh_namespace("bags")
    source = frames_to_bag(kitchen_frames, tmp_path / "source", namespace=namespace, progress=False)
    topics = CameraTopics(namespace)
    remapped_depth = f"{namespace}/replayed/depth"
    recorded = tmp_path / "recorded"
    record_topics = [remapped_depth, topics.color, topics.depth_info, "/clock"]
    recorder = subprocess.Popen(
        [*CLI, "bag", "record", str(recorded), "--storage", "sqlite3", "--stamp", "header",
         "--topics", *record_topics],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        player = subprocess.run(
            [*CLI, "bag", "play", str(source), "--clock", "100", "--rate", "2",
             "--remap", f"{topics.depth}:={remapped_depth}", "--wait-for-subscribers", *record_topics[:3]],
            capture_output=True, text=True, timeout=60,
        )
        assert player.returncode == 0, player.stdout + player.stderr
        assert f"{remapped_depth}: {len(kitchen_frames)}" in player.stdout
        recorder.send_signal(signal.SIGTERM)
        output, _ = recorder.communicate(timeout=30)
    finally:
        recorder.kill()
    assert recorder.returncode == 0, output
    assert f"{remapped_depth} (sensor_msgs/msg/Image): received 5, written 5, lost 0" in output
    assert not list(tmp_path.glob(".recorded.*"))  # the staging folder became the bag
    frames = tmp_path / "frames"
    assert bag_to_frames(recorded, frames, depth_topic=remapped_depth, color_topic=topics.color,
                         info_topic=topics.depth_info, progress=False) == len(kitchen_frames)
    assert_frames_round_trip(kitchen_frames, frames)
    with open_bag(recorded) as reader:
        images = [log_ns for _, log_ns, _ in iter_messages(reader, [remapped_depth])]
        clock_times = [stamp_to_ns(m.clock) for _, _, m in iter_messages(reader, ["/clock"])]
    assert images == [frame_stamp(i) for i in range(len(kitchen_frames))]  # --stamp header logs at header stamps
    assert len(clock_times) >= 2 and clock_times == sorted(clock_times)
    assert images[0] <= clock_times[0] and clock_times[-1] <= images[-1]  # /clock followed the bag's time


@pytest.mark.ros
def test_playing_a_bag_without_messages_is_an_error_not_an_endless_loop(tmp_path):
    play = pytest.importorskip("depth_completion_ros.bags.play")
    from rosbags.rosbag2 import Writer

    bag = tmp_path / "empty"
    with Writer(bag, version=BAG_VERSION) as writer:  # a topic that was announced but never sent
        writer.add_connection(CameraTopics().depth, "sensor_msgs/msg/Image", typestore=TYPESTORE)
    with pytest.raises(BagError, match="no messages"):
        play.play_bag(bag, loop=True)


def _partials(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.*.partial"))


def _run_cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=timeout)


def _assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    """A user mistake: exit 2 and one ``error:`` line naming the problem, never a traceback."""
    error = result.stderr.strip()
    assert result.returncode == 2, result.stdout + result.stderr
    assert error.startswith("error: ") and "\n" not in error, error
    for text in expected:
        assert text in error, error


def _small_depth(index: int) -> np.ndarray:
    """A 64x48 depth frame (metres) that tells the frames apart: every pixel is 0.5 m + index mm."""
    return np.full((48, 64), 0.5 + index / 1000.0, dtype=np.float32)


@pytest.mark.ros
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_recorder_killed_with_sigkill_loses_at_most_the_last_checkpoint_and_is_repaired(tmp_path, storage):
    """A real `bag record` process killed with SIGKILL while a publisher streams into it: everything
    it received more than CHECKPOINT_PERIOD_S before the kill comes back through `bag repair`, in
    order and bit for bit; the next run names the partial folder it left."""
    ros_helpers = pytest.importorskip("ros_helpers")
    from rclpy.duration import Duration
    from rclpy.node import Node

    from depth_completion_ros.bags.storage import CHECKPOINT_PERIOD_S

    topic = f"{ros_helpers.fresh_namespace('killed')}/depth/image_raw"
    output = tmp_path / "recorded"
    published: list[np.ndarray] = []
    with ros_helpers.ros_context() as context:
        node = Node("killed_recording_publisher", context=context)
        publisher = node.create_publisher(ros_helpers.Image, topic, ros_helpers.qos(depth=1000))
        recorder = subprocess.Popen([*CLI, "bag", "record", str(output), "--storage", storage, "--topics", topic],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            ros_helpers.wait_for_subscribers(publisher, timeout=30.0)

            def publish(count: int) -> None:
                for _ in range(count):
                    index = len(published)
                    published.append(_small_depth(index))
                    publisher.publish(ros_helpers.depth_msg(published[-1], frame_stamp(index)))
                    time.sleep(1 / 30)

            publish(60)
            assert publisher.wait_for_all_acked(Duration(seconds=10))
            durable = len(published)
            time.sleep(CHECKPOINT_PERIOD_S + 3.0)  # the recorder has handed all of it to its file by now
            publish(30)  # killed mid-stream
            recorder.kill()
            recorder.wait(timeout=10)
        finally:
            recorder.kill()
            recorder.stdout.close()
            node.destroy_node()
    assert recorder.returncode == -signal.SIGKILL
    assert not output.exists()
    (partial,) = _partials(tmp_path, "recorded")

    _assert_one_line_error(_run_cli("bag", "info", str(partial / "recorded")), "no metadata.yaml", "bag repair")
    repaired = tmp_path / "repaired"
    result = _run_cli("bag", "repair", str(partial), str(repaired))
    assert result.returncode == 0, result.stdout + result.stderr
    with open_bag(repaired) as reader:
        messages = [(log_ns, message) for _, log_ns, message in iter_messages(reader, [topic])]
    assert durable <= len(messages) <= len(published), result.stdout
    assert f"recovered {len(messages)} messages" in result.stdout
    for index, (_log_ns, message) in enumerate(messages):  # a prefix of what was published, exactly
        assert stamp_to_ns(message.header.stamp) == frame_stamp(index)
        np.testing.assert_allclose(depth_from_msg(message), published[index], atol=5e-4)  # 16UC1: millimetres
    assert bag_info(repaired).storage == storage

    rerun = _run_cli("bag", "record", str(output), "--topics", "/nobody_publishes_this", "--duration", "0.5")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert str(partial) in rerun.stdout + rerun.stderr and "bag repair" in rerun.stdout + rerun.stderr
    assert partial.is_dir()  # named, never deleted: it may be the only copy of a recording
