"""Models. Importing the subpackages registers every component in ``MODELS``."""
from . import backbones, data_preprocessors, detectors, heads, losses, necks, utils  # noqa: F401
