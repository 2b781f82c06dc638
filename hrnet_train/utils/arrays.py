"""Array conversion shared by metrics and hooks."""
from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device, with or without grad), array or sequence -> numpy array."""
    if hasattr(x, 'detach'):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)
