"""Array conversions shared by the library: one way to hand numpy code a torch tensor."""
from __future__ import annotations

import numpy as np
import torch


def to_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    """A numpy view of an array, or of a tensor after detaching it and moving it to the CPU."""
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
