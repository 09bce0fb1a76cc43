"""Average the weights of two checkpoints of one architecture (a two-ingredient "model soup").

    python -m training.average models/costdcnet_prior_cpu.pt candidate.pt --weight 0.5 --output soup.pt

Fine-tunes from the same starting weights usually stay in one basin, so their average is a
model between them: it keeps part of what the fine-tune learned and part of the start's
behaviour (Wortsman et al., 2022). The result takes the second checkpoint's config and
metadata, plus ``averaged_from``; batch-norm statistics are averaged like the weights, integer
buffers (step counters) come from the second. Written atomically.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from depth_completion_ros.model import CheckpointError, DepthNetwork, load_checkpoint, save_checkpoint


def average_weights(first: DepthNetwork, second: DepthNetwork, weight: float) -> DepthNetwork:
    """``second`` with every floating-point tensor replaced by ``(1 - weight) * first + weight * second``."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    ours, theirs = first.state_dict(), second.state_dict()
    if ours.keys() != theirs.keys() or any(ours[k].shape != theirs[k].shape for k in ours):
        raise CheckpointError(f"cannot average {first.config.name} and {second.config.name}: the weights differ in "
                              "names or shapes")
    second.load_state_dict({name: (1.0 - weight) * ours[name] + weight * tensor if tensor.is_floating_point()
                            else tensor for name, tensor in theirs.items()})
    return second


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="checkpoint (.pt)")
    parser.add_argument("second", type=Path, help="checkpoint (.pt) of the same architecture; its config is kept")
    parser.add_argument("--weight", type=float, default=0.5, help="share of the second checkpoint (0-1)")
    parser.add_argument("--output", type=Path, required=True, help="the averaged checkpoint")
    args = parser.parse_args(argv)
    try:
        first, _ = load_checkpoint(args.first)
        second, meta = load_checkpoint(args.second)
        averaged = average_weights(first, second, args.weight)
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta["averaged_from"] = {"first": str(args.first), "second": str(args.second), "weight": args.weight}
    try:
        save_checkpoint(args.output, averaged, **meta)
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {1 - args.weight:g} x {args.first} + {args.weight:g} x {args.second}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
