"""Model utilities: the one checkpoint loading path, the ``Pretrained`` initializer and batch
augments."""
from .batch_augments import (
    CutMix,
    Mixup,
    RandomBatchAugment,
    cutmix_batch,
    cutmix_box,
    mixup_batch,
)
from .official_weights import (
    LoadReport,
    canonical_key,
    convert_state_dict,
    load_checkpoint,
    load_official_weights,
    read_checkpoint,
    unwrap_state_dict,
)
from .pretrained_init import Pretrained

__all__ = ['LoadReport', 'Pretrained', 'canonical_key', 'convert_state_dict', 'load_checkpoint',
           'load_official_weights', 'read_checkpoint', 'unwrap_state_dict', 'CutMix', 'Mixup',
           'RandomBatchAugment', 'cutmix_batch', 'cutmix_box', 'mixup_batch']
