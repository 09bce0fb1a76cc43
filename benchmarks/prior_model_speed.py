"""Per-frame cost of the prior-anchored model on the CPU, stage by stage, at several frame sizes.

    python benchmarks/prior_model_speed.py --onnx models/costdcnet_prior_cpu.onnx --threads 2

(a plain script against the installed library, ``pip install -e .``: no path set-up)

For each frame size: the midpoint pre-pass, the classical fill (the prior), the resize to the
working resolution, the network in ONNX Runtime (CPU, ``--threads`` intra-op threads) and the
edge-aware upsampling back to the frame, as :func:`depth_completion_ros.model.refine_frames`
runs them; medians over ``--repeats`` frames, milliseconds. Frames are a real 640x480 7-Scenes
frame resized to each size (colour area/bilinear, depth nearest), so the prior's work is that of
real holes. Timings on a shared machine are noisy: report the machine's load with them, or use
``--clock cpu`` (process CPU time, all threads summed: with ``--threads 1`` it measures the work
per frame and barely moves when other jobs share the cores).
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import torch

from depth_completion_ros.classical import classical_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.export import read_onnx_metadata
from depth_completion_ros.geometry import resize_color, resize_depth
from depth_completion_ros.interpolation import midpoint_fill
from depth_completion_ros.model import ModelConfig
from depth_completion_ros.model.resolution import apply_correction, to_working_resolution, working_size

SIZES = ((320, 256), (640, 480), (1280, 720), (1920, 1080))
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
SHARED_DATA = Path(os.environ.get("DC_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def timed(stage: Callable[[], object], timings: list[float], clock: Callable[[], float]) -> object:
    start = clock()
    result = stage()
    timings.append((clock() - start) * 1000.0)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", type=Path, required=True, help="a dynamic-size prior-model export")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime and torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--frame", type=Path, default=SHARED_DATA / "7scenes_redkitchen",
                        help="frame sequence whose frame 250 is resized to each size")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = ModelConfig.from_dict(__import__("json").loads(read_onnx_metadata(args.onnx)["model_config"]))
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(args.onnx), options, providers=["CPUExecutionProvider"])
    sample = load_frame(discover_frames(args.frame)[250])
    sigmas = (config.guide_sigma_depth, config.guide_sigma_color)
    clock = CLOCKS[args.clock]
    print(f"{args.onnx.name}, ONNX Runtime {ort.__version__} CPU, {args.threads} threads, {os.cpu_count()} cores, "
          f"{args.clock} clock, load average {os.getloadavg()[0]:.1f} at start\n")
    print("| frame | working (padded) | midpoint | prior | to working | network | upsample | total ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for width, height in SIZES:
        rgb = resize_color(sample.rgb, width, height)
        depth = resize_depth(sample.depth, width, height, mode="nearest")
        stages: dict[str, list[float]] = {name: [] for name in ("midpoint", "prior", "working", "network", "upsample")}
        totals = []
        for _ in range(args.repeats + 1):
            start = clock()
            prefilled = timed(functools.partial(midpoint_fill, depth), stages["midpoint"], clock)
            prior = timed(functools.partial(classical_fill, prefilled, rgb), stages["prior"], clock)
            tensors = (torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0,
                       torch.from_numpy(prefilled)[None, None], torch.from_numpy(prior)[None, None])
            size = working_size(width, height, config.working_area)
            to_working = functools.partial(to_working_resolution, *tensors, size, config.total_stride)
            working = timed(to_working, stages["working"], clock)
            feeds = {"rgb": working.rgb.numpy(), "depth": working.depth.numpy(), "prior": working.prior.numpy()}
            completed, confidence = timed(functools.partial(session.run, ["completed_depth", "confidence"], feeds),
                                          stages["network"], clock)
            outputs = torch.from_numpy(completed), torch.from_numpy(confidence)  # views: no copy
            timed(functools.partial(apply_correction, working, *outputs, *tensors, sigmas), stages["upsample"], clock)
            totals.append((clock() - start) * 1000.0)
        medians = {name: statistics.median(values[1:]) for name, values in stages.items()}  # first call warms up
        padded = tuple(working.rgb.shape[-1:-3:-1])
        print(f"| {width}x{height} | {size[0]}x{size[1]} ({padded[0]}x{padded[1]}) | "
              + " | ".join(f"{medians[name]:.1f}" for name in stages) + f" | {statistics.median(totals[1:]):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
