"""Model utilities: the one checkpoint loading path, the ``Pretrained`` initializer, batch
augments and the speed switches (BatchNorm folding, oneDNN fusion, ``torch.compile``)."""
from .batch_augments import (
    CutMix,
    Mixup,
    RandomBatchAugment,
    cutmix_batch,
    cutmix_box,
    mixup_batch,
)
from .compile import compile_network, inductor_available
from .fuse_bn import count_batchnorms, fuse_batchnorm, fuse_conv_bn
from .official_weights import (
    LoadReport,
    canonical_key,
    convert_state_dict,
    load_checkpoint,
    load_official_weights,
    read_checkpoint,
    unwrap_state_dict,
)
from .onednn_fuse import apply_fuse_bn, fuse_onednn, onednn_summary
from .pretrained_init import Pretrained

__all__ = ['LoadReport', 'Pretrained', 'canonical_key', 'convert_state_dict',
           'load_checkpoint', 'load_official_weights', 'read_checkpoint', 'unwrap_state_dict',
           'CutMix', 'Mixup', 'RandomBatchAugment', 'cutmix_batch', 'cutmix_box', 'mixup_batch',
           'compile_network', 'count_batchnorms', 'fuse_batchnorm', 'fuse_conv_bn',
           'fuse_onednn', 'inductor_available', 'onednn_summary', 'apply_fuse_bn']
