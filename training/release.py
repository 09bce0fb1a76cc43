"""Release a training run's selected weights as shipped files, with the metadata the model card quotes.

    python -m training.release runs/prior_cpu --output models/costdcnet_prior_cpu.pt \\
        --resume-dir models/prior_cpu_run --machine "2 shared CPU cores (x86_64), no GPU, 1 thread"
    depth-completion export-onnx --checkpoint models/costdcnet_prior_cpu.pt \\
        --output models/costdcnet_prior_cpu.onnx --dynamic

From the run directory it takes ``best.pt`` (the weights ``training.train`` selected: the lowest
validation hole RMSE among weights that pass the flat-wall check) and ``last.pt`` (how far the
run got, its training time and config), writes the weights with that metadata to ``--output``,
and copies the run's resume state (``last.pt``, ``history.json``, and draws ``loss_curve.png``)
to ``--resume-dir``, so an unfinished run can be continued from a fresh clone with ``--resume``.
Selection is by validation only: the evaluation sets play no part here. Weights that move a
small hole in a flat wall (:mod:`training.checks`) are refused before anything is written (a
run older than that check may have selected them). Every file is written atomically.

``--model-config NAME|YAML`` releases the weights in another model config of the same
architecture: settings outside the weights (the frame path: upsampling sigmas, the correction
ramp) come from it. With a released checkpoint instead of a run directory, that re-releases
shipped weights under a new frame path, their metadata kept and the check made again:

    python -m training.release models/costdcnet_prior_cpu.pt --model-config costdcnet_prior_cpu \\
        --output models/costdcnet_prior_cpu.pt
"""
from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from depth_completion_ros.depth_io import atomic_output
from depth_completion_ros.model import (
    DepthNetwork,
    ModelConfigError,
    load_checkpoint,
    load_model_config,
    save_checkpoint,
    with_config,
)
from depth_completion_ros.model.checkpoint import CheckpointError, read_checkpoint
from training.checks import FLAT_WALL_TOLERANCE_M, model_flat_wall_error
from training.curves import plot_runs, read_history
from training.train import TRAINING_STATE_KEY

#: How ``training.train`` picks ``best.pt``; recorded with the released weights.
SELECTED_BY = "lowest validation hole RMSE among weights passing the flat-wall check"
#: The run's files copied beside the released weights so the run can be resumed.
RESUME_FILES = ("last.pt", "history.json")


class ReleaseRefusedError(ValueError):
    """The selected weights fail a check that every shipped model must pass."""


def release(
    run_dir: Path, output: Path, resume_dir: Path | None, machine: str, validation: str, model_config: str | None = None
) -> dict[str, Any]:
    """Write the run's best weights to ``output`` (and its resume state to ``resume_dir``), in
    ``model_config`` when given; returns the meta."""
    for name in ("best.pt", "last.pt", "history.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: not found; is {run_dir} a training.train output directory?")
    model, best_meta = load_checkpoint(run_dir / "best.pt")
    model = _checked(model, run_dir / "best.pt", best_meta, model_config)
    last = read_checkpoint(run_dir / "last.pt")
    state = last.get(TRAINING_STATE_KEY)
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{run_dir / 'last.pt'}: no training state (step, train_seconds); "
                              "it must be the resume checkpoint training.train writes")
    meta = {
        "steps": int(best_meta["steps"]),
        "selected_by": f"{SELECTED_BY} ({validation})" if validation else SELECTED_BY,
        "val": {key: float(value) for key, value in best_meta["val"].items()},
        "run_steps": int(state["step"]),
        "run_train_seconds": round(float(state.get("train_seconds", 0.0)), 1),
        "machine": f"{machine}, torch {torch.__version__}",
        "training_config": str(best_meta.get("training_config", state.get("training_config", ""))),
    }
    if resume_dir is not None:
        meta["resume_state"] = str(resume_dir / "last.pt")
        resume_dir.mkdir(parents=True, exist_ok=True)
        for name in RESUME_FILES:
            with atomic_output(resume_dir / name) as tmp:
                shutil.copyfile(run_dir / name, tmp)
        # drawn afresh: a run still going has not drawn its own yet
        plot_runs({run_dir.name: read_history(run_dir)}, resume_dir / "loss_curve.png", title=model.config.name)
    save_checkpoint(output, model, **meta)
    return meta


def rerelease(checkpoint: Path, output: Path, model_config: str) -> dict[str, Any]:
    """Write released ``checkpoint``'s weights and metadata to ``output`` in ``model_config``."""
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: not found")
    model, meta = load_checkpoint(checkpoint)
    save_checkpoint(output, _checked(model, checkpoint, meta, model_config), **meta)
    return meta


def _checked(model: DepthNetwork, source: Path, meta: dict[str, Any], model_config: str | None) -> DepthNetwork:
    """``model`` in ``model_config`` (when given), refused if it fails the flat-wall check."""
    if model_config is not None:
        model = with_config(model, load_model_config(model_config), str(source))
    error = model_flat_wall_error(model)
    if error > FLAT_WALL_TOLERANCE_M:
        raise ReleaseRefusedError(f"{source} (step {meta.get('steps')}) fills a 3x3 hole in a flat wall "
                                  f"{error * 100:.1f} cm off (allowed {FLAT_WALL_TOLERANCE_M * 100:.0f} cm): "
                                  "nothing was written")
    return model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path,
                        help="a training.train output directory (best.pt, last.pt), or a released checkpoint to "
                             "re-release with --model-config")
    parser.add_argument("--output", type=Path, required=True, help="the released checkpoint, e.g. models/NAME.pt")
    parser.add_argument("--resume-dir", type=Path, help="copy the run's resume state (last.pt, history) here")
    parser.add_argument("--machine", default="", help="where the run trained, for the model card")
    parser.add_argument("--validation", default="", help="what the validation set was, for the model card")
    parser.add_argument("--model-config", metavar="NAME|YAML",
                        help="release the weights in this model config (same architecture; the frame-path settings "
                             "may differ)")
    args = parser.parse_args(argv)
    try:
        if not args.run_dir.exists():
            raise FileNotFoundError(f"{args.run_dir}: not found (give a training run directory, or a released "
                                    "checkpoint with --model-config)")
        if args.run_dir.is_dir():
            meta = release(args.run_dir, args.output, args.resume_dir, args.machine, args.validation,
                           args.model_config)
        elif args.model_config is None:
            raise FileNotFoundError(f"{args.run_dir}: not a training run directory (a released checkpoint is "
                                    "re-released only with --model-config)")
        else:
            meta = rerelease(args.run_dir, args.output, args.model_config)
            print(f"wrote {args.output}: {args.run_dir}'s weights (step {meta.get('steps')}) in {args.model_config}")
            return 0
    except (FileNotFoundError, CheckpointError, KeyError, ReleaseRefusedError, ModelConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    val = meta["val"]
    print(f"wrote {args.output}: step {meta['steps']} of {meta['run_steps']} "
          f"({meta['run_train_seconds'] / 3600:.1f} h of training), validation hole RMSE {val['hole_rmse']:.4f} m "
          f"(prior {val.get('prior_hole_rmse', float('nan')):.4f} m), hole MAE {val['hole_mae']:.4f} m")
    if args.resume_dir is not None:
        print(f"resume state in {args.resume_dir} (python -m training.train ... --resume {meta['resume_state']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
