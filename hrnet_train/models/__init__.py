"""Models: backbone, necks, heads, losses and whole models."""
from . import backbones, layers, utils  # noqa: F401
