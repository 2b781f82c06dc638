"""ImageNet classifier: HRNet (all four branches) + the HRNet-C head, with Mixup / CutMix."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from hrnet_train.models.utils.batch_augments import RandomBatchAugment
from hrnet_train.models.utils.channels import describe, fill_in_channels
from hrnet_train.models.utils.modes import forward_by_mode
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError, DataError

_TRAIN_CFG_KEYS = frozenset({'augments', 'probs'})


def _top1_accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Top-1 accuracy in percent.

    Args:
        logits: (N, C) scores.
        labels: (N,) int64 class indices.

    Returns:
        scalar float32 tensor in [0, 100] on the logits' device (0 for an empty batch).
    """
    if labels.numel() == 0:
        return logits.new_zeros((), dtype=torch.float32)
    return (logits.argmax(dim=1) == labels).float().mean() * 100.0


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """HRNet image classifier (HRNet/HRNet-Image-Classification:lib/models/cls_hrnet.py).

    The whole model's keys are ``backbone.*`` and ``cls_head.*``: the canonical naming of
    :mod:`hrnet_train.models.utils.official_weights`, so official and timm ImageNet files (bare
    backbone keys + ``incre_modules``, ``downsamp_modules``, ``final_layer.{0,1}``,
    ``classifier``) load strictly with :func:`~hrnet_train.models.utils.load_checkpoint`.

    Args:
        backbone: ``HRNet`` config; it must keep ``multi_scale_output=True`` (the head reads all
            four branches).
        head: ``HRNetClsHead`` config. Without ``in_channels`` the head takes the backbone's
            branch widths, so changing ``backbone.arch`` alone switches the model.
        loss: loss config; None is ``dict(type='CrossEntropyLoss')`` (add ``label_smoothing=0.1``
            for the 300-epoch recipe). Targets always reach it as (N, C) class probabilities
            (one-hot without batch augments), so its ``ignore_index`` (255 by default, a real
            ImageNet class) never drops a sample.
        train_cfg: ``dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix',
            alpha=1.0)], probs=None)``: in training mode, ``loss()`` mixes each batch with one of
            ``augments`` chosen with ``probs`` (None: uniformly; a sum below 1 leaves the rest
            of the batches unmixed), as mmpretrain's ``RandomBatchAugment``. Randomness comes
            from torch's global generator. None: no batch augments.
        data_preprocessor: e.g. ``dict(type='ImgDataPreprocessor', mean=..., std=...)``; the
            inputs reaching ``forward`` are normalised (N, 3, H, W).
        init_cfg: mmengine init config of the whole model.

    Data samples: ``loss`` reads ``gt_label`` (1,) int64 in [0, num_classes); ``predict`` adds
    ``pred_score`` (C,) float32 softmax probabilities and ``pred_label`` (1,) int64.
    """

    def __init__(self, backbone: dict, head: dict, *, loss: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        if getattr(self.backbone, 'multi_scale_output', True) is False:
            raise ConfigError('model.backbone.multi_scale_output must be True for '
                              'ImageClassifier: HRNetClsHead reads all four branches')
        out_channels = getattr(self.backbone, 'out_channels', None)
        if out_channels is not None:
            head = fill_in_channels(head, out_channels, key='model.head',
                                    source=describe(self.backbone))
        self.cls_head = MODELS.build(head)
        self.num_classes = int(self.cls_head.num_classes)
        self.loss_module = MODELS.build(loss if loss is not None else
                                        dict(type='CrossEntropyLoss'))
        train_cfg = dict(train_cfg or {})
        unknown = set(train_cfg) - _TRAIN_CFG_KEYS
        if unknown:
            raise ConfigError(f'model.train_cfg: unknown keys {sorted(unknown)}; expected a '
                              f'subset of {sorted(_TRAIN_CFG_KEYS)}')
        self.train_cfg = train_cfg
        augments = train_cfg.get('augments')
        if augments:
            self.batch_augments: Optional[RandomBatchAugment] = RandomBatchAugment(
                augments, train_cfg.get('probs'), key='model.train_cfg')
        elif train_cfg.get('probs') is not None:
            raise ConfigError('model.train_cfg.probs is given but train_cfg.augments is empty')
        else:
            self.batch_augments = None

    def check_dataset_meta(self, meta: dict, *, split: str = 'dataset') -> None:
        """Raise ConfigError when the dataset's classes do not fit the head."""
        classes = meta.get('classes')
        if classes is not None and len(classes) != self.num_classes:
            raise ConfigError(f'model.head.num_classes={self.num_classes} but the {split} has '
                              f'{len(classes)} classes (metainfo classes); set '
                              f'model.head.num_classes={len(classes)}')

    def _forward(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) normalised images -> (N, num_classes) logits."""
        return self.cls_head(self.backbone(inputs))

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        return forward_by_mode(self, inputs, data_samples, mode)

    def _gt_labels(self, data_samples: list, device: torch.device) -> Tensor:
        """(N,) int64 class indices from the samples' ``gt_label``."""
        labels = []
        for i, ds in enumerate(data_samples):
            label = torch.as_tensor(ds.gt_label).reshape(-1)
            if label.numel() != 1:
                raise DataError(f'data sample {i}: gt_label must hold one class index, got '
                                f'shape {tuple(label.shape)}')
            labels.append(label)
        labels = torch.cat(labels).to(device=device, dtype=torch.long)
        bad = (labels < 0) | (labels >= self.num_classes)
        if bool(bad.any()):
            raise DataError(f'gt_label must be in [0, {self.num_classes}) '
                            f'(model.head.num_classes), got {int(labels[bad][0])}')
        return labels

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        """Returns ``loss_cls`` and ``acc_top1`` (percent, not back-propagated).

        The targets are one-hot rows of ``gt_label``, mixed by the batch augments in training
        mode; ``acc_top1`` counts a sample right when its top logit is its target's largest
        class (the label itself without augments; the larger share after Mixup / CutMix).
        """
        labels = self._gt_labels(data_samples, inputs.device)
        targets = F.one_hot(labels, self.num_classes).float()  # (N, C)
        if self.training and self.batch_augments is not None:
            inputs, targets = self.batch_augments(inputs, targets)
        logits = self._forward(inputs)
        loss = self.loss_module(logits, targets)
        acc = _top1_accuracy(logits.detach(), targets.argmax(dim=1))
        return dict(loss_cls=loss, acc_top1=acc)

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: Optional[list] = None) -> list:
        """Fill ``pred_score`` (C,) float32 softmax probabilities and ``pred_label`` (1,) int64
        into the data samples (new ``BaseDataElement`` s when None)."""
        data_samples = data_samples or [BaseDataElement() for _ in range(len(inputs))]
        scores = F.softmax(self._forward(inputs).float(), dim=1)  # (N, C)
        labels = scores.argmax(dim=1, keepdim=True)  # (N, 1)
        for ds, score, label in zip(data_samples, scores, labels):
            ds.set_field(score, 'pred_score')
            ds.set_field(label, 'pred_label')
        return data_samples
