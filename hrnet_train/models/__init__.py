"""Models. Importing the subpackages registers every component in ``MODELS``."""
from . import (  # noqa: F401
    backbones,
    data_preprocessors,
    detectors,
    heads,
    losses,
    necks,
    roi_heads,
    task_modules,
    utils,
)
