"""Array conversion shared by metrics and hooks."""
from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device, with or without grad), array or sequence -> numpy array.

    bfloat16 tensors (AMP outputs) become float32: numpy has no bfloat16.
    """
    if hasattr(x, 'detach'):  # torch.Tensor
        x = x.detach()
        if str(x.dtype) == 'torch.bfloat16':
            x = x.float()
        x = x.cpu().numpy()
    return np.asarray(x)
