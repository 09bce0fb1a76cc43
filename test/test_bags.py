"""rosbag2 tools on generated frames: conversion round trips, info, errors, evaluation, play -> record over DDS."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from generated_datasets import repeat_frames

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
from depth_completion_ros.bags.storage import BAG_VERSION, STORAGE_PLUGINS, TYPESTORE, iter_messages, match_by_stamp
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.depth_io import UINT16_SENTINEL, read_color, read_depth_raw, stale_partials
from depth_completion_ros.geometry import CameraIntrinsics, read_intrinsics
from depth_completion_ros.ros_image import color_from_msg, depth_from_msg
from depth_completion_ros.sync import stamp_to_ns

#: Generated 7-Scenes-layout frames used throughout: the first four and frame 4, which stores
#: 65535 sentinels as Kinect recordings do.
FRAME_INDICES = (0, 1, 2, 3, 4)
MATTERPORT_INTRINSICS = CameraIntrinsics(fx=256.0, fy=256.0, cx=159.5, cy=127.5, width=320, height=256)
#: `depth-completion` in a subprocess (the console script need not be installed).
CLI = [sys.executable, "-m", "depth_completion_ros.cli"]


@pytest.fixture(scope="module")
def kitchen_frames(generated_kitchen):
    frames = discover_frames(generated_kitchen)
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
    assert (np.frombuffer(depth_msgs[-1].data, "<u2") == UINT16_SENTINEL).any()  # frame 4 really has sentinels
    info = bag_info(bag)
    assert info.storage == storage and info.message_count == 4 * len(kitchen_frames)
    assert bag_to_frames(bag, tmp_path / "frames", depth_topic=topics.depth, color_topic=topics.color,
                         info_topic=topics.depth_info, progress=False) == len(kitchen_frames)
    assert_frames_round_trip(kitchen_frames, tmp_path / "frames")


def test_matterport_needs_intrinsics_and_keeps_values_as_32fc1(generated_matterport, tmp_path):
    with pytest.raises(BagError, match="--intrinsics"):
        frames_to_bag(generated_matterport, tmp_path / "no_intrinsics", progress=False)
    assert not (tmp_path / "no_intrinsics").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left behind
    bag = frames_to_bag(generated_matterport, tmp_path / "bag", intrinsics=MATTERPORT_INTRINSICS, progress=False)
    topics = CameraTopics()
    samples = [load_frame(frame) for frame in discover_frames(generated_matterport)]
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


def test_from_frames_cli_converts_only_the_first_limit_frames(generated_kitchen, tmp_path, capsys):
    bag = tmp_path / "bag"
    assert cli.main(["bag", "from-frames", str(generated_kitchen), str(bag), "--limit", "2", "-q"]) == 0
    assert bag_info(bag).message_count == 8  # 2 frames x (depth, colour and their camera_info)
    with pytest.raises(SystemExit):
        cli.main(["bag", "from-frames", str(generated_kitchen), str(tmp_path / "other"), "--limit", "0"])
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


def test_cli_reports_bag_errors_in_one_line(kitchen_frames, kitchen_bag, tmp_path, capsys):
    """The mistakes a user makes with bags: each is exit 2 and one line naming the path and the problem."""
    truncated = {}
    for storage in ("mcap", "sqlite3"):
        truncated[storage] = frames_to_bag(kitchen_frames[:1], tmp_path / storage, storage=storage, progress=False)
        _truncate(next(truncated[storage].glob(f"*{'.mcap' if storage == 'mcap' else '.db3'}")), 0.5)
    a_file = tmp_path / "a_file"
    a_file.write_text("not a bag")
    topics = CameraTopics()
    cases = [
        (["info", str(tmp_path / "nowhere")], "no such bag"),
        (["info", str(a_file)], "not a rosbag2 bag"),
        (["info", str(tmp_path)], "no metadata.yaml"),
        (["to-frames", str(truncated["mcap"]), str(tmp_path / "frames")], "truncated or corrupt"),
        (["to-frames", str(truncated["sqlite3"]), str(tmp_path / "frames")], "truncated or corrupt"),
        (["evaluate", str(truncated["mcap"]), "--method", "interp"], "truncated or corrupt"),
        (["to-frames", str(kitchen_bag), str(a_file / "frames")], "not a folder"),
        (["to-frames", str(kitchen_bag), str(tmp_path / "frames"), "--depth-topic", "/robot/depth"],
         "no topic /robot/depth"),
        (["to-frames", str(kitchen_bag), str(tmp_path / "frames"), "--depth-topic", topics.depth_info],
         f"{topics.depth_info} holds sensor_msgs/msg/CameraInfo, not sensor_msgs/msg/Image"),
        (["evaluate", str(kitchen_bag), "--reference", topics.color_info, "--completed-topic", topics.depth],
         "holds sensor_msgs/msg/CameraInfo"),
        (["from-frames", str(a_file), str(tmp_path / "bag")], "no such dataset folder"),
        (["from-frames", str(kitchen_frames[0].depth.parent), str(kitchen_bag), "--limit", "1"], "already exists"),
    ]
    for argv, problem in cases:
        error = cli_error(capsys, "bag", *argv)
        assert problem in error, (argv, error)
    assert not (tmp_path / "frames").exists() and not (tmp_path / "bag").exists()
    assert not list(tmp_path.glob(".*.partial"))


def test_match_by_stamp_pairs_topics_and_keeps_incomplete_required_groups():
    def message(topic: str, stamp: int):
        return topic, 0, SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(sec=0, nanosec=stamp)))

    stream = [message("d", 1), message("c", 1), message("c", 2), message("d", 3), message("d", 4), message("c", 4)]
    groups = list(match_by_stamp(stream, ["d", "c"], required=["d"], window=1))
    assert [(stamp, sorted(group)) for stamp, group in groups] == [(1, ["c", "d"]), (3, ["d"]), (4, ["c", "d"])]


def test_evaluate_against_ground_truth_topic_and_folder(generated_matterport, tmp_path):
    from depth_completion_ros.bags.evaluate import evaluate_against_reference
    from depth_completion_ros.metrics import aggregate_metrics, depth_metrics

    bag = frames_to_bag(generated_matterport, tmp_path / "bag", intrinsics=MATTERPORT_INTRINSICS, progress=False)
    topics = CameraTopics()
    samples = [load_frame(frame) for frame in discover_frames(generated_matterport)]
    expected = aggregate_metrics(depth_metrics(s.depth, s.gt, raw=s.depth) for s in samples)
    # The raw depth stands in for a completed topic: the numbers are known independently.
    by_topic = evaluate_against_reference(bag, topics.depth, topics.ground_truth, raw_topic=topics.depth,
                                          progress=False)
    by_folder = evaluate_against_reference(bag, topics.depth, generated_matterport, progress=False)
    for evaluation in by_topic, by_folder:
        assert evaluation.report.frames == 3 and evaluation.unscored == 0
        assert evaluation.report.metrics[topics.depth] == pytest.approx(expected, nan_ok=True)
    with pytest.raises(BagError, match="no frame could be scored"):
        evaluate_against_reference(bag, topics.depth, generated_matterport, start_s=5.0, progress=False)


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


def cli_error(capsys, *argv: str) -> str:
    """Run a command that must fail on a user mistake: exit 2 and one ``error:`` line (returned), no traceback."""
    assert cli.main(list(argv)) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error, error
    return error


def _small_depth(index: int) -> np.ndarray:
    """A 64x48 depth frame (metres) that tells the frames apart: every pixel is 0.5 m + index mm."""
    return np.full((48, 64), 0.5 + index / 1000.0, dtype=np.float32)


@pytest.mark.ros
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_recorder_killed_with_sigkill_loses_at_most_the_last_checkpoint_and_is_repaired(tmp_path, storage, capsys,
                                                                                         caplog):
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

    error = cli_error(capsys, "bag", "info", str(partial / "recorded"))
    assert "no metadata.yaml" in error and "bag repair" in error
    repaired = tmp_path / "repaired"
    assert cli.main(["bag", "repair", str(partial), str(repaired)]) == 0
    report = capsys.readouterr().out
    with open_bag(repaired) as reader:
        messages = [(log_ns, message) for _, log_ns, message in iter_messages(reader, [topic])]
    assert durable <= len(messages) <= len(published), report
    assert f"recovered {len(messages)} messages" in report
    for index, (_log_ns, message) in enumerate(messages):  # a prefix of what was published, exactly
        assert stamp_to_ns(message.header.stamp) == frame_stamp(index)
        np.testing.assert_allclose(depth_from_msg(message), published[index], atol=5e-4)  # 16UC1: millimetres
    assert bag_info(repaired).storage == storage

    assert cli.main(["bag", "record", str(output), "--topics", "/nobody_publishes_this", "--duration", "0.5"]) == 0
    assert str(partial) in caplog.text and "bag repair" in caplog.text
    assert partial.is_dir()  # named, never deleted: it may be the only copy of a recording


def test_sigterm_during_from_frames_leaves_nothing_behind(generated_kitchen, tmp_path, tmp_path_factory):
    """`kill` (SIGTERM) stops a real conversion as Ctrl-C does: exit 130, no bag, no hidden partial folder."""
    recording = repeat_frames(generated_kitchen, tmp_path_factory.mktemp("recording"), 300)  # 7-Scenes' length
    output = tmp_path / "kitchen"
    converter = subprocess.Popen([*CLI, "bag", "from-frames", str(recording), str(output), "-q"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for partial in _partials(tmp_path, "kitchen") for p in partial.rglob("*.mcap")):
            assert converter.poll() is None and time.monotonic() < deadline, "the conversion never started writing"
            time.sleep(0.05)
        converter.send_signal(signal.SIGTERM)
        _, stderr = converter.communicate(timeout=30)
    finally:
        converter.kill()
    assert converter.returncode == 130, stderr
    assert stderr.strip().endswith("interrupted")
    assert list(tmp_path.iterdir()) == []


def _fake_type_bag(path: Path, topic: str, msgtype: str) -> Path:
    """A bag whose one topic claims ``msgtype``, with a definition rosbags accepts (what a hostile bag can do)."""
    from rosbags.rosbag2 import Writer

    with Writer(path, version=BAG_VERSION) as writer:
        connection = writer.add_connection(topic, msgtype, msgdef="string data", rihs01="RIHS01_" + "0" * 64)
        writer.write(connection, 1, TYPESTORE.serialize_cdr(TYPESTORE.types["std_msgs/msg/String"](data="x"),
                                                            "std_msgs/msg/String"))
    return path


@pytest.mark.ros
def test_play_never_imports_a_module_a_bag_names(tmp_path, monkeypatch):
    """A bag naming an importable non-ROS package as its message type is refused before anything is imported."""
    play = pytest.importorskip("depth_completion_ros.bags.play")
    marker = tmp_path / "imported"
    package = tmp_path / "modules" / "planted_pkg"
    (package / "msg").mkdir(parents=True)
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (package / "msg" / "__init__.py").write_text("class Payload:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    for msgtype, reason in (("planted_pkg/msg/Payload", "no ROS interface package planted_pkg"),
                            ("os/msg/system", "not a ROS 2 message type name"),
                            ("os.path/msg/Join", "not a ROS 2 message type name")):
        bag = _fake_type_bag(tmp_path / msgtype.replace("/", "_"), "/planted", msgtype)
        with pytest.raises(BagError, match=reason):
            play.play_bag(bag)
    assert not marker.exists() and "planted_pkg" not in sys.modules
    assert play.message_class("sensor_msgs/msg/Image").__name__ == "Image"  # real interface packages still load


def _messages(bag: Path) -> list[tuple[str, int, bytes]]:
    with open_bag(bag) as reader:
        return [(connection.topic, log_ns, bytes(raw)) for connection, log_ns, raw in reader.messages()]


@pytest.mark.parametrize("keep,compressed", [(0.2, False), (0.55, False), (0.9, False), (0.55, True), (0.9, True)])
def test_repair_recovers_the_intact_prefix_of_a_cut_off_mcap(kitchen_bag, tmp_path, keep, compressed):
    """An MCAP cut anywhere: repair recovers exactly the messages before the cut, in order, and says what it lost."""
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, Writer

    from depth_completion_ros.bags.repair import repair_bag

    source = kitchen_bag
    original = _messages(source)
    bag = tmp_path / "written"
    writer = Writer(bag, version=BAG_VERSION, storage_plugin=STORAGE_PLUGINS["mcap"])
    if compressed:  # zstd chunks, as `ros2 bag record --compression-mode file` writes them
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with open_bag(source) as reader, writer:
        connections = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=TYPESTORE,
                                                   offered_qos_profiles=c.ext.offered_qos_profiles)
                       for c in reader.connections}
        for connection, log_ns, raw in reader.messages():
            writer.write(connections[connection.id], log_ns, raw)
    storage_file = bag / "written.mcap"
    _truncate(storage_file, keep)
    (bag / "metadata.yaml").unlink()
    report = repair_bag(bag, tmp_path / "repaired")
    recovered = _messages(tmp_path / "repaired")
    assert 0 < len(recovered) < len(original)
    assert sorted(recovered, key=lambda m: m[1]) == sorted(original, key=lambda m: m[1])[: len(recovered)]
    assert sum(report.recovered.values()) == len(recovered) and report.damage
    if compressed:
        assert "cannot be decompressed" in report.format()
    assert bag_info(tmp_path / "repaired").message_count == len(recovered)


def test_repair_errors_name_the_problem(kitchen_frames, tmp_path, capsys):
    (tmp_path / "empty.mcap").write_bytes(b"")
    (tmp_path / "text.mcap").write_text("not a bag")
    (tmp_path / "two").mkdir()
    for storage in ("mcap", "sqlite3"):
        frames_to_bag(kitchen_frames[:1], tmp_path / "two" / storage, storage=storage, progress=False)
    cut_db3 = tmp_path / "two" / "sqlite3" / "sqlite3.db3"
    shutil.copy(cut_db3, tmp_path / "cut.db3")
    _truncate(tmp_path / "cut.db3", 0.5)
    cases = {tmp_path / "nowhere": "no such file or folder", tmp_path / "empty.mcap": "the file is empty",
             tmp_path / "text.mcap": "not an MCAP file", tmp_path / "two": "2 storage files",
             tmp_path / "cut.db3": "not a readable rosbag2 SQLite file"}
    for source, reason in cases.items():
        error = cli_error(capsys, "bag", "repair", str(source), str(tmp_path / "out"))
        assert str(source) in error and reason in error
        assert not (tmp_path / "out").exists()
    assert _partials(tmp_path, "out") == []


def test_stale_partials_are_named_only_when_their_run_is_gone(kitchen_frames, tmp_path, caplog):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid belongs to no process now
    killed = tmp_path / f".bag.{gone.pid}.abc.partial"
    running = tmp_path / f".bag.{os.getpid()}.def.partial"
    other_output = tmp_path / f".bag.v2.{gone.pid}.ghi.partial"  # killed, but a run writing bag.v2
    for folder in killed, running, other_output:
        folder.mkdir()
    assert stale_partials(tmp_path, "bag") == [killed]
    frames_to_bag(kitchen_frames[:1], tmp_path / "bag", progress=False)
    assert str(killed) in caplog.text and str(running) not in caplog.text and str(other_output) not in caplog.text
    assert killed.is_dir() and running.is_dir() and other_output.is_dir()


def test_from_frames_depth_scale_sets_the_units_of_the_folder(kitchen_frames, tmp_path, capsys):
    """A folder whose 16-bit depth is not millimetres (TUM's 1/5000 m): --depth-scale converts it to metres."""
    folder = tmp_path / "tum_units"
    folder.mkdir()
    for frame in kitchen_frames[:2]:
        shutil.copy(frame.depth, folder)
        shutil.copy(frame.color, folder)
    shutil.copy(kitchen_frames[0].intrinsics_file, folder)
    topics = CameraTopics()
    assert cli.main(["bag", "from-frames", str(folder), str(tmp_path / "mm"), "-q"]) == 0
    assert cli.main(["bag", "from-frames", str(folder), str(tmp_path / "tum"), "--depth-scale", "5000", "-q"]) == 0
    capsys.readouterr()
    for frame, as_mm, as_tum in zip(kitchen_frames[:2], read_topic(tmp_path / "mm", topics.depth),
                                    read_topic(tmp_path / "tum", topics.depth), strict=True):
        assert (as_mm.encoding, as_tum.encoding) == ("16UC1", "32FC1")  # millimetres as stored; other units as metres
        expected = load_frame(discover_frames(folder, depth_scale=5000.0)[kitchen_frames.index(frame)]).depth
        np.testing.assert_array_equal(depth_from_msg(as_tum), expected)
        np.testing.assert_allclose(depth_from_msg(as_tum), depth_from_msg(as_mm) * 1000 / 5000, rtol=1e-6)


def test_repair_reads_sqlite_files_without_stored_definitions(kitchen_frames, tmp_path):
    """rosbag2 SQLite before schema 4 stores no message definitions: repair falls back to ROS 2 Kilted's."""
    import sqlite3

    from depth_completion_ros.bags.repair import repair_bag

    bag = frames_to_bag(kitchen_frames[:2], tmp_path / "old", storage="sqlite3", progress=False)
    original = _messages(bag)
    (bag / "metadata.yaml").unlink()
    with contextlib.closing(sqlite3.connect(bag / "old.db3")) as connection, connection:
        connection.execute("DROP TABLE message_definitions")
    report = repair_bag(bag / "old.db3", tmp_path / "repaired")
    assert _messages(tmp_path / "repaired") == original
    assert report.lost_messages == 0 and not report.damage


@pytest.mark.ros
def test_record_and_play_name_a_malformed_topic_in_one_line(kitchen_bag, tmp_path, capsys):
    pytest.importorskip("depth_completion_ros.bags.record")
    error = cli_error(capsys, "bag", "record", str(tmp_path / "rec"), "--topics", "bad topic!", "--duration", "1")
    assert "'bad topic!' is not a valid ROS topic name" in error
    error = cli_error(capsys, "bag", "play", str(kitchen_bag), "--remap", f"{CameraTopics().depth}:=bad topic")
    assert "'bad topic' is not a valid ROS topic name" in error
    assert list(tmp_path.iterdir()) == []


def test_from_frames_reads_a_tum_recording_in_its_units(kitchen_frames, tmp_path, capsys):
    """A TUM RGB-D / ORB-SLAM2 folder (rgb.txt, depth.txt, 1/5000 m) made from generated frames: from-frames
    finds it, pairs colour and depth by timestamp, and writes the depth in metres."""
    root = tmp_path / "tum"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    depth_lines, rgb_lines = [], []
    for index, frame in enumerate(kitchen_frames[:3]):
        stamp = 1305031102.0 + index / 30
        millimetres = read_depth_raw(frame.depth)
        tum_units = np.where(millimetres == UINT16_SENTINEL, 0, millimetres).astype(np.uint32) * 5
        cv2.imwrite(str(root / "depth" / f"{stamp:.6f}.png"), tum_units.astype(np.uint16))
        bgr = cv2.cvtColor(read_color(frame.color), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(root / "rgb" / f"{stamp + 0.004:.6f}.png"), bgr)
        depth_lines.append(f"{stamp:.6f} depth/{stamp:.6f}.png")
        rgb_lines.append(f"{stamp + 0.004:.6f} rgb/{stamp + 0.004:.6f}.png")
    (root / "depth.txt").write_text("# depth maps\n" + "\n".join(depth_lines) + "\n")
    (root / "rgb.txt").write_text("# color images\n" + "\n".join(rgb_lines) + "\n")
    intrinsics = str(kitchen_frames[0].intrinsics_file)
    assert cli.main(["bag", "from-frames", str(root), str(tmp_path / "bag"), "--intrinsics", intrinsics, "-q"]) == 0
    capsys.readouterr()
    topics = CameraTopics()
    depth_msgs, color_msgs = read_topic(tmp_path / "bag", topics.depth), read_topic(tmp_path / "bag", topics.color)
    assert len(depth_msgs) == len(color_msgs) == 3
    for frame, depth, color in zip(kitchen_frames[:3], depth_msgs, color_msgs, strict=True):
        assert depth.encoding == "32FC1"
        np.testing.assert_allclose(depth_from_msg(depth), load_frame(frame).depth, rtol=1e-6)
        np.testing.assert_array_equal(color_from_msg(color), read_color(frame.color))


def test_from_frames_reads_the_color_depth_folder_pair(generated_color_depth, tmp_path, capsys):
    """A user's recording like ../shared/data/cup_sequence: color/NNNNN.jpg + depth/NNNNN.png, millimetres,
    no intrinsics published."""
    root = generated_color_depth
    intrinsics = tmp_path / "assumed.yaml"  # the sequence ships none: a nominal 640x360 pinhole
    intrinsics.write_text("fx: 460.0\nfy: 460.0\ncx: 319.5\ncy: 179.5\nwidth: 640\nheight: 360\n")
    bag = tmp_path / "cup"
    assert cli.main(["bag", "from-frames", str(root), str(bag), "--limit", "3", "--intrinsics", str(intrinsics),
                     "-q"]) == 0
    capsys.readouterr()
    depth_msgs = read_topic(bag, CameraTopics().depth)
    color_msgs = read_topic(bag, CameraTopics().color)
    frames = discover_frames(root)[:3]
    assert [m.encoding for m in depth_msgs] == ["16UC1"] * 3 and len(color_msgs) == 3
    for frame, depth, color in zip(frames, depth_msgs, color_msgs, strict=True):
        raw = read_depth_raw(frame.depth)
        np.testing.assert_array_equal(np.frombuffer(depth.data, "<u2").reshape(raw.shape), raw)
        np.testing.assert_array_equal(color_from_msg(color), read_color(frame.color))
