"""CostDCNet speed per configuration, against the naive dense translation, in one run.

    python benchmarks/model_speed.py                      # all three configs, ~3 min on 2 cores
    python benchmarks/model_speed.py --configs costdcnet_cpu --threads 4

A plain script against the installed library (``pip install -e .``, the README's venv): no
path set-up, run from anywhere.

Prints a Markdown table: parameters, PyTorch CPU and ONNX Runtime CPU ms per 320x256 frame
(batch 1), one training step (batch 4, forward + backward + Adam), ratios against the naive
config, and PyTorch CUDA FP16 ms per frame when a GPU is present. Also prints how far the
sparse-aware encoder's output is from the dense reference with the same weights (the accuracy
side of the trade-off: the sparse form is an exact reformulation, so this is float rounding).
The naive config runs few repeats (seconds per frame); timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from depth_completion_ros.export import export_onnx, fitted_frames
from depth_completion_ros.model import CostDCNet, ModelConfig, build_model, load_model_config

DEFAULT_CONFIGS = ("costdcnet_naive", "costdcnet_faithful", "costdcnet_cpu")
Clock = Callable[[], float]
#: ``wall``: elapsed time. ``cpu``: process CPU time (all threads summed) — with ``--threads 1``
#: it measures the work per frame and barely moves when other jobs share the machine.
CLOCKS: dict[str, Clock] = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass
class Row:
    name: str
    naive: bool
    parameters: int
    torch_ms: float
    ort_ms: float
    train_s: float
    cuda_fp16_ms: float | None


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1, clock: Clock = time.perf_counter) -> float:
    """Median time of ``run`` on ``clock`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = clock()
        run()
        times.append(clock() - start)
    return statistics.median(times)


def frame_inputs(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """A real Matterport frame when the shared data is present (timing does not depend on it,
    the sparse-vs-dense comparison does), else random depth with 40 % holes."""
    real = fitted_frames(height, width)
    if real:
        name, named = real[0]
        return torch.from_numpy(named["rgb"]), torch.from_numpy(named["depth"]), f"real frame {name}"
    generator = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, height, width, generator=generator)
    depth = torch.rand(1, 1, height, width, generator=generator) * 8.0
    depth[torch.rand(depth.shape, generator=generator) < 0.4] = 0.0
    return rgb, depth, "random input (no shared data found)"


def time_training_step(
    model: CostDCNet, rgb: torch.Tensor, depth: torch.Tensor, repeats: int, warmup: int, clock: Clock
) -> float:
    batch_rgb, batch_depth = rgb.repeat(4, 1, 1, 1), depth.repeat(4, 1, 1, 1)
    target = torch.where(batch_depth > 0, batch_depth, torch.full_like(batch_depth, 3.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        completed, _ = model(batch_rgb, batch_depth)
        loss = (completed - target).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = median_seconds(step, repeats, warmup, clock)
    model.eval()
    return seconds


def time_onnx_runtime(
    model: CostDCNet, rgb: torch.Tensor, depth: torch.Tensor, threads: int, repeats: int, clock: Clock
) -> float:
    feed = {"rgb": rgb.numpy(), "depth": depth.numpy()}
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(model, Path(folder) / "model.onnx", height=rgb.shape[2], width=rgb.shape[3])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return median_seconds(lambda: session.run(None, feed), repeats, warmup=2, clock=clock)


def time_cuda_fp16(model: CostDCNet, rgb: torch.Tensor, depth: torch.Tensor, repeats: int) -> float:
    cuda_model = build_model(model.config).cuda().half().eval()
    cuda_model.load_state_dict(model.state_dict())
    cuda_rgb, cuda_depth = rgb.cuda().half(), depth.cuda().half()

    def run() -> None:
        with torch.inference_mode():
            cuda_model(cuda_rgb, cuda_depth)
        torch.cuda.synchronize()

    return median_seconds(run, repeats, warmup=5)


def benchmark(
    config: ModelConfig, rgb: torch.Tensor, depth: torch.Tensor, threads: int, clock: Clock, skip_training: bool
) -> Row:
    """All timings of one config; the naive (dense) one gets few repeats, it takes seconds per frame."""
    naive = config.encoder3d == "dense"
    torch.manual_seed(0)
    model = build_model(config).eval()
    repeats = 2 if naive else 10
    with torch.inference_mode():
        torch_s = median_seconds(lambda: model(rgb, depth), repeats, clock=clock)
    ort_s = time_onnx_runtime(model, rgb, depth, threads, repeats, clock)
    repeats, warmup = (1, 0) if naive else (2, 1)
    train_s = float("nan") if skip_training else time_training_step(model, rgb, depth, repeats, warmup, clock)
    cuda_ms = time_cuda_fp16(model, rgb, depth, 50) * 1000 if torch.cuda.is_available() else None
    parameters = sum(p.numel() for p in model.parameters())
    return Row(config.name, naive, parameters, torch_s * 1000, ort_s * 1000, train_s, cuda_ms)


def sparse_dense_difference(rgb: torch.Tensor, depth: torch.Tensor) -> float:
    """Max |depth difference| (m) between the faithful config and the naive one with the same weights."""
    torch.manual_seed(0)
    sparse = build_model("costdcnet_faithful").eval()
    dense = build_model(load_model_config("costdcnet_faithful").replace(encoder3d="dense")).eval()
    dense.load_state_dict(sparse.state_dict())
    with torch.inference_mode():
        return float((sparse(rgb, depth)[0] - dense(rgb, depth)[0]).abs().max())


def ratio(reference: float, value: float) -> str:
    return f"{reference / value:.1f}x" if np.isfinite(reference) and np.isfinite(value) and value > 0 else "-"


def format_table(rows: list[Row]) -> str:
    naive = next((row for row in rows if row.naive), None)
    lines = [
        "| config | params | PyTorch CPU ms | ORT CPU ms | train step s (batch 4) "
        "| vs naive (PyTorch / ORT / train) | CUDA FP16 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        pairs = (
            ((naive.torch_ms, row.torch_ms), (naive.ort_ms, row.ort_ms), (naive.train_s, row.train_s)) if naive else ()
        )
        speedup = " / ".join(ratio(a, b) for a, b in pairs) if naive is not None and row is not naive else "-"
        cuda = f"{row.cuda_fp16_ms:.2f}" if row.cuda_fp16_ms is not None else "no CUDA device"
        train = f"{row.train_s:.2f}" if np.isfinite(row.train_s) else "skipped"
        lines.append(
            f"| {row.name} | {row.parameters / 1e6:.2f} M | {row.torch_ms:.1f} | {row.ort_ms:.1f} | {train} "
            f"| {speedup} | {cuda} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), help="config names or YAML paths")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch and ONNX Runtime")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall",
        help="wall time, or process CPU time (use with --threads 1 on a shared machine)",
    )
    parser.add_argument("--skip-naive-training", action="store_true", help="skip the naive training step (~1 min)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    rgb, depth, source = frame_inputs(args.height, args.width)
    print(f"CostDCNet speed at {args.width}x{args.height}, {args.threads} CPU thread(s), {args.clock} clock, median; "
          f"input: {source}")
    cuda = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, CUDA: {cuda}\n")
    rows = []
    for name in args.configs:
        config = load_model_config(name)
        skip_training = args.skip_naive_training and config.encoder3d == "dense"
        rows.append(benchmark(config, rgb, depth, args.threads, CLOCKS[args.clock], skip_training))
        print(f"  measured {config.name}", flush=True)
    print("\n" + format_table(rows))
    difference = sparse_dense_difference(rgb, depth)
    print(
        f"\nSparse-aware vs dense 3D encoder (faithful weights, same input): max |depth difference| = "
        f"{difference * 1000:.4f} mm — an exact reformulation; the difference is float rounding."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
