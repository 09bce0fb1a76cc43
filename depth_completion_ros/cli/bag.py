"""``depth-completion bag ...``: the command-line face of :mod:`depth_completion_ros.bags`."""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..bags.convert import (
    DEFAULT_FRAME_ID,
    DEFAULT_NAMESPACE,
    DEFAULT_RATE_HZ,
    DEFAULT_START_S,
    DEPTH_ENCODING_CHOICES,
    CameraTopics,
    bag_to_frames,
    frames_to_bag,
)
from ..bags.repair import repair_bag
from ..bags.storage import CHECKPOINT_PERIOD_S, STAMP_MODES, STORAGE_PLUGINS, BagError, bag_info
from ..topics import CAMERA_INFO_TOPIC, COLOR_TOPIC, DEPTH_TOPIC, OUT_DEPTH_TOPIC
from .common import (
    add_completer_arguments,
    add_dataset_arguments,
    add_intrinsics_argument,
    add_layout_arguments,
    add_quiet_argument,
    build_completer,
    dataset_frames,
    positive_float,
)

if TYPE_CHECKING:
    from ..bags.evaluate import BagEvaluation


#: ``--clock`` without a value: ``ros2 bag play --clock``'s default frequency.
DEFAULT_CLOCK_HZ = 40.0


def _ros_module(name: str) -> ModuleType:
    """Import the play/record module, which needs rclpy, with a clear error where ROS is missing."""
    try:
        return importlib.import_module(f"depth_completion_ros.bags.{name}")
    except ImportError as exc:
        raise BagError(
            f"'bag {name}' needs rclpy and the ROS 2 message packages ({exc}); "
            "pip install -e '.[ros]' or source a ROS 2 installation"
        ) from exc


def cmd_from_frames(args: argparse.Namespace) -> int:
    output = frames_to_bag(
        dataset_frames(args),
        args.output,
        rate_hz=args.rate,
        storage=args.storage,
        namespace=args.namespace,
        intrinsics=args.intrinsics,
        depth_encoding=args.depth_encoding,
        frame_id=args.frame_id,
        start_s=args.start_time,
        progress=not args.quiet,
    )
    print(bag_info(output).format())
    return 0


def cmd_to_frames(args: argparse.Namespace) -> int:
    topics = CameraTopics(args.namespace)
    count = bag_to_frames(
        args.bag,
        args.output,
        depth_topic=args.depth_topic or topics.depth,
        color_topic=None if args.no_color else (args.color_topic or topics.color),
        info_topic=args.info_topic or topics.depth_info,
        progress=not args.quiet,
    )
    print(f"wrote {count} frames to {args.output}")
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    print(repair_bag(args.source, args.output).format())
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(bag_info(args.bag).format())
    return 0


def _wait_option(topics: list[str] | None) -> bool | list[str]:
    """``--wait-for-subscribers``: absent -> no wait; given alone -> every played topic; with names -> those."""
    if topics is None:
        return False
    return topics or True


def cmd_play(args: argparse.Namespace) -> int:
    play = _ros_module("play")
    report = play.play_bag(
        args.bag,
        rate=args.rate,
        loop=args.loop,
        clock_hz=args.clock,
        remaps=play.parse_remaps(args.remap),
        topics=args.topics,
        wait_for_subscribers=_wait_option(args.wait_for_subscribers),
    )
    print(report.format())
    return 130 if report.interrupted else 0


def cmd_record(args: argparse.Namespace) -> int:
    record = _ros_module("record")
    report = record.record_bag(args.output, args.topics, storage=args.storage, duration_s=args.duration,
                               stamp=args.stamp)
    print(report.format())
    return 0


def _print_evaluation(evaluation: BagEvaluation, json_path: Path | None) -> None:
    print(evaluation.report.markdown())
    if evaluation.unscored:
        print(f"\n{evaluation.unscored} frame(s) not scored "
              "(no reference with the same stamp, or too little valid depth)")
    if json_path is not None:
        evaluation.report.write_json(json_path)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..bags.evaluate import evaluate_against_reference, evaluate_hidden_regions

    topics = CameraTopics(args.namespace)
    if args.reference is not None:
        completed_topic = args.completed_topic or topics.completed
        evaluation = evaluate_against_reference(
            args.bag,
            completed_topic,
            args.reference,
            raw_topic=args.raw_topic or topics.depth,
            rate_hz=args.rate,
            start_s=args.start_time,
            layout=args.layout,
            depth_scale=args.depth_scale,
            min_gt=args.min_gt,
            progress=not args.quiet,
        )
        _print_evaluation(evaluation, args.json)
        return 0
    if args.completed_topic is not None:
        raise BagError("--completed-topic needs --reference; without a reference the hidden-region protocol "
                       "completes the raw depth itself (choose the method with --method)")
    evaluation = evaluate_hidden_regions(
        args.bag,
        build_completer(args),
        depth_topic=args.raw_topic or topics.depth,
        color_topic=None if args.no_color else topics.color,
        seed=args.seed,
        min_gt=args.min_gt,
        progress=not args.quiet,
    )
    _print_evaluation(evaluation, args.json)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bag`` and its sub-commands."""
    bag = subparsers.add_parser("bag",
                                help="rosbag2 tools: from-frames, to-frames, repair, info, play, record, evaluate",
                                description="rosbag2 tools that need no ros2 CLI (bags are read and written "
                                            "with rosbags)")
    commands = bag.add_subparsers(dest="bag_command", required=True, metavar="BAG_COMMAND")

    def add_namespace(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--namespace", default=DEFAULT_NAMESPACE,
                            help=f"camera namespace of the topics: <ns>/{DEPTH_TOPIC}, <ns>/{COLOR_TOPIC}, ...")

    def add_timing(parser: argparse.ArgumentParser, what: str) -> None:
        parser.add_argument("--rate", type=positive_float, default=DEFAULT_RATE_HZ, help=f"frame rate (Hz) {what}")
        parser.add_argument("--start-time", type=float, default=DEFAULT_START_S,
                            help=f"stamp of the first frame in seconds {what} "
                                 "(not 0: that means 'no clock yet' under sim time)")

    from_frames = commands.add_parser("from-frames",
                                      help="convert a frame folder (data0929/7-Scenes/Matterport layout) to a bag")
    from_frames.add_argument("input", type=Path, help="dataset folder (frame-XXXXXX.color/.depth, Matterport3D, ...)")
    from_frames.add_argument("output", type=Path, help="bag directory to create (must not exist)")
    add_timing(from_frames, "of the stamps")
    from_frames.add_argument("--storage", choices=tuple(STORAGE_PLUGINS), default="mcap", help="storage plugin")
    add_namespace(from_frames)
    add_intrinsics_argument(from_frames)
    from_frames.add_argument("--depth-encoding", choices=DEPTH_ENCODING_CHOICES, default="auto",
                             help="auto: 16UC1 for millimetre PNGs (bit-exact), 32FC1 metres otherwise")
    from_frames.add_argument("--frame-id", default=DEFAULT_FRAME_ID, help="header frame_id of every message")
    add_dataset_arguments(from_frames)
    add_quiet_argument(from_frames)
    from_frames.set_defaults(func=cmd_from_frames)

    to_frames = commands.add_parser("to-frames", help="write a bag's depth/colour as a frame-XXXXXX folder")
    to_frames.add_argument("bag", type=Path, help="bag directory or .mcap/.db3 file")
    to_frames.add_argument("output", type=Path, help="folder to create (must not exist)")
    add_namespace(to_frames)
    to_frames.add_argument("--depth-topic", default=None, help=f"depth topic (default <ns>/{DEPTH_TOPIC})")
    to_frames.add_argument("--color-topic", default=None, help=f"colour topic (default <ns>/{COLOR_TOPIC})")
    to_frames.add_argument("--info-topic", default=None, help=f"camera_info topic (default <ns>/{CAMERA_INFO_TOPIC})")
    to_frames.add_argument("--no-color", action="store_true", help="write depth only")
    add_quiet_argument(to_frames)
    to_frames.set_defaults(func=cmd_to_frames)

    repair = commands.add_parser(
        "repair", help="recover the messages of a recording that was killed before it closed its bag",
        description="Like 'ros2 bag reindex': reads the intact messages of a storage file that was never closed "
                    "(a recorder killed with SIGKILL, a power cut) into a new bag and reports what was recovered. "
                    f"'bag record' hands its messages to the file at least every {CHECKPOINT_PERIOD_S:g} s.")
    repair.add_argument("source", type=Path,
                        help="the .mcap/.db3 file, its bag folder, or the hidden .NAME.*.partial folder a killed "
                             "'bag record' left")
    repair.add_argument("output", type=Path, help="bag directory to create (must not exist)")
    repair.set_defaults(func=cmd_repair)

    info = commands.add_parser("info", help="topics, types, counts, duration, rates, storage and sizes of a bag")
    info.add_argument("bag", type=Path, help="bag directory or .mcap/.db3 file")
    info.set_defaults(func=cmd_info)

    play = commands.add_parser("play", help="publish a bag with its recorded timing (rclpy)")
    play.add_argument("bag", type=Path, help="bag directory or .mcap/.db3 file")
    play.add_argument("--rate", type=positive_float, default=1.0, help="playback speed factor")
    play.add_argument("--loop", action="store_true", help="restart at the end until interrupted")
    play.add_argument("--clock", type=positive_float, nargs="?", const=DEFAULT_CLOCK_HZ, default=None, metavar="HZ",
                      help="publish /clock with the bag's time (default 40 Hz) for nodes with use_sim_time:=true")
    play.add_argument("--remap", nargs="+", action="extend", default=[], metavar="OLD:=NEW", help="rename topics")
    play.add_argument("--topics", nargs="+", default=None, help="play only these topics")
    play.add_argument("--wait-for-subscribers", nargs="*", default=None, metavar="TOPIC",
                      help="start only once these played (output) topics, or with no TOPIC every played topic, "
                           "have a subscriber")
    play.set_defaults(func=cmd_play)

    record = commands.add_parser("record", help="record topics into a new bag; Ctrl-C/SIGTERM closes it cleanly")
    record.add_argument("output", type=Path, help="bag directory to create (must not exist)")
    record.add_argument("--topics", nargs="+", required=True, help="topics to record (may appear later)")
    record.add_argument("--storage", choices=tuple(STORAGE_PLUGINS), default="mcap", help="storage plugin")
    record.add_argument("--duration", type=positive_float, default=None, metavar="S", help="stop after S seconds")
    record.add_argument("--stamp", choices=STAMP_MODES, default="receive",
                        help="log time of each message: its arrival (like ros2 bag record) or its header stamp")
    record.set_defaults(func=cmd_record)

    evaluate = commands.add_parser("evaluate", help="score completed depth against a reference, or by hiding raw depth")
    evaluate.add_argument("bag", type=Path, help="bag directory or .mcap/.db3 file")
    add_namespace(evaluate)
    evaluate.add_argument("--completed-topic", default=None,
                          help=f"completed depth to score against --reference (default <ns>/{OUT_DEPTH_TOPIC})")
    evaluate.add_argument("--reference", default=None,
                          help="ground truth: a topic of BAG or the frame folder BAG was converted from; "
                               "without it the hidden-region protocol runs --method on the raw depth")
    evaluate.add_argument("--raw-topic", default=None, help=f"raw depth topic (default <ns>/{DEPTH_TOPIC})")
    evaluate.add_argument("--no-color", action="store_true",
                          help="hidden-region protocol: complete depth without colour")
    add_timing(evaluate, "the folder was converted with (a folder --reference only)")
    add_layout_arguments(evaluate, "a folder --reference")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the hidden-region protocol")
    evaluate.add_argument("--min-gt", type=float, default=0.1,
                          help="score only pixels with reference depth above this (m)")
    evaluate.add_argument("--json", type=Path, default=None, help="also write the metrics as JSON")
    add_completer_arguments(evaluate)
    add_quiet_argument(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)
