"""Building blocks shared by every model."""
from .blocks import (
    BLOCKS_NAMES,
    BasicBlock,
    Bottleneck,
    build_norm,
    conv1x1,
    conv3x3,
    make_res_layer,
)

__all__ = ['BLOCKS_NAMES', 'BasicBlock', 'Bottleneck', 'build_norm', 'conv1x1', 'conv3x3',
           'make_res_layer']
