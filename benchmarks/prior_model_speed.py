"""Per-frame cost of the prior-anchored model on the CPU, stage by stage, at several frame sizes.

    python benchmarks/prior_model_speed.py --onnx models/costdcnet_prior_cpu.onnx --threads 2 \
        [--sizes 640x480 1280x720 1920x1080] [--repeats 10] [--clock wall|cpu] [--operators]

(a plain script against the installed library, ``pip install -e .``: no path set-up)

For each frame size, the model method's path as the node runs it: the midpoint pre-pass, the
classical fill (the prior), then :func:`depth_completion_ros.model.refine_usable_frames` on the
uint8 colour frame, split into the network (ONNX Runtime on the CPU, ``--threads`` intra-op
threads, as the node's backend) and the frame path around it (colour and prior to the working
resolution, the edge-aware upsampling of the correction at the holes, the checks); medians over
``--repeats`` frames, milliseconds. Like the node, it keeps freed buffers in the process
(``node.retain_freed_memory``), so frame-sized buffers are not page-faulted afresh every frame.
Frames are a real 640x480 7-Scenes frame resized to each size (colour area/bilinear, depth
nearest), so the prior's work is that of real holes. Timings on a shared machine are noisy:
report the machine's load with them, or use ``--clock cpu`` (process CPU time, all threads
summed: with ``--threads 1`` it measures the work per frame and barely moves when other jobs
share the cores). ``--operators`` adds where the network's time goes at the last size: ONNX
Runtime's own profile of ``--repeats`` runs, kernel time per operator type (ms per run, nodes).
"""
from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import onnxruntime as ort
import torch
from node_latency import parse_size  # the sibling script's WxH parser (benchmarks/ is on sys.path when run)

from depth_completion_ros.classical import classical_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.export import read_onnx_metadata
from depth_completion_ros.geometry import resize_color, resize_depth
from depth_completion_ros.interpolation import midpoint_fill
from depth_completion_ros.model import ModelConfig, refine_usable_frames, working_size
from depth_completion_ros.model.resolution import padded_size
from depth_completion_ros.node import retain_freed_memory

DEFAULT_SIZES = ((320, 256), (640, 480), (1280, 720), (1920, 1080))
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
T = TypeVar("T")
SHARED_DATA = Path(os.environ.get("DC_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def timed(stage: Callable[[], T], timings: list[float], clock: Callable[[], float]) -> T:
    start = clock()
    result = stage()
    timings.append((clock() - start) * 1000.0)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", type=Path, required=True, help="a dynamic-size prior-model export")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime and torch intra-op threads")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=list(DEFAULT_SIZES), help="e.g. 1280x720")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--frame", type=Path, default=SHARED_DATA / "7scenes_redkitchen",
                        help="frame sequence whose frame 250 is resized to each size")
    parser.add_argument("--operators", action="store_true",
                        help="also print ONNX Runtime's kernel time per operator type at the last size")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    memory = "freed buffers retained, as in the node" if retain_freed_memory() else "glibc malloc defaults"
    config = ModelConfig.from_dict(__import__("json").loads(read_onnx_metadata(args.onnx)["model_config"]))
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(args.onnx), options, providers=["CPUExecutionProvider"])
    sample = load_frame(discover_frames(args.frame)[250])
    clock = CLOCKS[args.clock]
    stages: dict[str, list[float]] = {}
    feeds: dict[str, object] = {}

    def network(rgb: torch.Tensor, depth: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feeds.update(rgb=rgb.numpy(), depth=depth.numpy(), prior=prior.numpy())
        run = functools.partial(session.run, ["completed_depth", "confidence"], feeds)
        completed, confidence = timed(run, stages["network"], clock)
        return torch.from_numpy(completed), torch.from_numpy(confidence)  # views: no copy

    print(f"{args.onnx.name}, ONNX Runtime {ort.__version__} CPU, {args.threads} threads, {os.cpu_count()} cores, "
          f"{args.clock} clock, {memory}, load average {os.getloadavg()[0]:.1f} at start\n")
    print("| frame | working (padded) | midpoint | prior | network | around the network | total ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for width, height in args.sizes:
        rgb = resize_color(sample.rgb, width, height)[None]
        depth = resize_depth(sample.depth, width, height, mode="nearest")
        stages = {name: [] for name in ("midpoint", "prior", "refine", "network")}
        totals = []
        for _ in range(args.repeats + 1):
            start = clock()
            prefilled = timed(functools.partial(midpoint_fill, depth), stages["midpoint"], clock)
            prior = timed(functools.partial(classical_fill, prefilled, rgb[0]), stages["prior"], clock)
            refine = functools.partial(refine_usable_frames, network, config, rgb, prefilled[None], prior[None])
            timed(refine, stages["refine"], clock)
            totals.append((clock() - start) * 1000.0)
        stages["around"] = [whole - net for whole, net in zip(stages["refine"], stages["network"], strict=True)]
        medians = {name: statistics.median(values[1:]) for name, values in stages.items()}  # first call warms up
        size = working_size(width, height, config.working_area)
        padded = padded_size(*size, config.total_stride)
        print(f"| {width}x{height} | {size[0]}x{size[1]} ({padded[0]}x{padded[1]}) | "
              + " | ".join(f"{medians[name]:.1f}" for name in ("midpoint", "prior", "network", "around"))
              + f" | {statistics.median(totals[1:]):.1f} |")
    if args.operators:
        print(f"\nNetwork kernels at {width}x{height} (ONNX Runtime profile, {args.repeats} runs after one warm-up):\n")
        print("| operator | ms per run | nodes |\n|---|---:|---:|")
        for operator, milliseconds, nodes in operator_times(args.onnx, args.threads, feeds, args.repeats):
            print(f"| {operator} | {milliseconds:.2f} | {nodes} |")
    return 0


def operator_times(path: Path, threads: int, feeds: dict[str, object], runs: int) -> list[tuple[str, float, int]]:
    """``(operator type, kernel ms per run, nodes)`` from ONNX Runtime's profiler, largest first;
    the first run (warm-up) is left out."""
    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "network")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(runs + 1):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    warm_up = min((event for event in events if event["name"] == "model_run"), key=lambda event: event["ts"])
    kernels = [event for event in events if event.get("cat") == "Node" and event["name"].endswith("_kernel_time")
               and event["ts"] >= warm_up["ts"] + warm_up["dur"]]
    time_by_operator: collections.Counter[str] = collections.Counter()
    nodes_by_operator: collections.defaultdict[str, set[str]] = collections.defaultdict(set)
    for event in kernels:
        time_by_operator[event["args"]["op_name"]] += event["dur"] / 1000.0 / runs
        nodes_by_operator[event["args"]["op_name"]].add(event["name"])
    return [(operator, total, len(nodes_by_operator[operator])) for operator, total in time_by_operator.most_common()]


if __name__ == "__main__":
    sys.exit(main())
