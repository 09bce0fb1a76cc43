"""Training curves as PNG: one run (train.py draws ``loss_curve.png`` at the end) or several
runs on shared axes, to compare schedules, losses or augmentations without TensorBoard.

    python -m training.curves cosine=runs/study_cosine step=runs/study_step --out curves.png

Each run is a ``history.json`` written by train.py (or the folder holding it). Panels: the
training loss (a running mean over ``window`` logged points, the raw values faint for a single
run), the validation hole RMSE when the runs have validation (with the prior's, and the checks
whose weights fail the flat-wall check marked), and the learning rate.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depth_completion_ros.depth_io import atomic_output
from training.checks import passes_flat_wall_check

History = Mapping[str, Any]


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean over the last ``window`` values (fewer at the start), as long as ``values``."""
    cumulative = np.cumsum(np.insert(values.astype(np.float64), 0, 0.0))
    starts = np.maximum(np.arange(1, values.size + 1) - window, 0)
    return (cumulative[1:] - cumulative[starts]) / (np.arange(1, values.size + 1) - starts)


def plot_runs(histories: Mapping[str, History], path: str | Path, title: str = "", window: int = 10) -> Path:
    """Draw the runs' curves into one PNG (written atomically); returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("no runs to plot")
    with_val = any(history.get("val") for history in histories.values())
    rows = 3 if with_val else 2
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2.6 * rows + 0.6), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2, 1][:rows] if with_val else [3, 1]})
    ax_loss, ax_lr = axes[0], axes[-1]
    single = len(histories) == 1
    for index, (name, history) in enumerate(histories.items()):
        colour = f"C{index}"
        steps, loss = np.asarray(history["step"]), np.asarray(history["loss"], dtype=np.float64)
        if single:
            ax_loss.plot(steps, loss, color="0.75", linewidth=0.8, label="logged loss")
        ax_loss.plot(steps, running_mean(loss, window), color=colour, label=f"{name} (mean of {window})")
        if with_val and history.get("val"):
            plot_validation(axes[1], history["val"], name, colour)
        ax_lr.plot(steps, history["lr"], color=colour, label=name)
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title(title)
    if with_val:
        axes[1].set_ylabel("val hole RMSE (m)")
        axes[1].legend()
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("optimizer step")
    ax_loss.legend()
    for axis in axes:
        axis.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def plot_validation(axis: Any, val: Sequence[Mapping[str, float]], name: str, colour: str) -> None:
    """Validation hole RMSE; the prior's (a prior-anchored model) dashed, and a cross on each
    check whose weights fail the flat-wall check (never selected: training.checks)."""
    steps = [entry["step"] for entry in val]
    axis.plot(steps, [entry["hole_rmse"] for entry in val], "o-", color=colour, markersize=3, label=name)
    if all("prior_hole_rmse" in entry for entry in val):
        axis.plot(steps, [entry["prior_hole_rmse"] for entry in val], "--", color=colour, linewidth=1,
                  label=f"{name}: the prior (classical fill)")
    failing = [entry for entry in val if not passes_flat_wall_check(entry)]
    if failing:
        axis.plot([entry["step"] for entry in failing], [entry["hole_rmse"] for entry in failing], "x",
                  color="red", markersize=7, label=f"{name}: fails the flat-wall check")


def read_history(path: str | Path) -> History:
    """A run's ``history.json`` (``path`` may be the run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "history.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no history.json (train.py writes it at the end of a run)")
    history: History = json.loads(path.read_text())
    return history


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="[NAME=]RUN", help="run folder or history.json, optionally named")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="")
    parser.add_argument("--window", type=int, default=10, help="running-mean window over logged points")
    args = parser.parse_args(argv)
    histories = {}
    for text in args.runs:
        name, sep, run = text.partition("=")
        run = run if sep else text
        histories[name if sep else Path(run).name] = read_history(run)
    print(plot_runs(histories, args.out, args.title, args.window))
    return 0


if __name__ == "__main__":
    sys.exit(main())
