"""Semantic segmentation model: backbone, neck, decode head; whole/slide/TTA inference."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from hrnet_train.models.losses import resize_logits_to_labels
from hrnet_train.models.utils.channels import describe, fill_in_channels
from hrnet_train.models.utils.modes import forward_by_mode
from hrnet_train.ops import argmax
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError

_TEST_CFG_KEYS = frozenset({'mode', 'crop_size', 'stride', 'scales', 'flip', 'tta_combine',
                            'flip_label_pairs'})


def _resize_once(modules, logits: Tensor, labels: Tensor) -> tuple[Tensor, Optional[bool]]:
    """(N, K, h, w) logits resized to the (N, H, W) labels once for all ``modules``, when every
    one of them would resize them itself with the same ``align_corners`` (``label_resize``);
    the losses then get logits already at the label size (mmseg resizes once, too).

    Returns:
        (resized logits, their align_corners), or (``logits``, None) unchanged otherwise.
    """
    modes = {getattr(m, 'label_resize', None) for m in modules}
    if len(modes) != 1 or None in modes or logits.dim() != 4:
        return logits, None
    corners = modes.pop()
    return resize_logits_to_labels(logits, labels, align_corners=corners), corners


def _pair_of_positive_ints(value, key: str) -> tuple[int, int]:
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and v > 0 for v in value)):
        raise ValueError(f'test_cfg.{key} must be a (width, height) pair of positive ints, '
                         f'got {value!r}')
    return int(value[0]), int(value[1])


def _check_flip_label_pairs(value, num_classes: int) -> tuple[tuple[int, int], ...]:
    key = 'model.test_cfg.flip_label_pairs'
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f'{key} must be a list of (a, b) class index pairs, got {value!r}')
    pairs, seen = [], set()
    for pair in value:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in pair)):
            raise ConfigError(f'{key} must be a list of (a, b) class index pairs, got entry '
                              f'{pair!r}')
        a, b = int(pair[0]), int(pair[1])
        if a == b or not (0 <= a < num_classes and 0 <= b < num_classes):
            raise ConfigError(f'{key} entry {pair!r} must name two different classes in '
                              f'[0, {num_classes}) (decode_head.num_classes={num_classes})')
        if a in seen or b in seen:
            raise ConfigError(f'{key}: class {a if a in seen else b} is in two pairs')
        seen.update((a, b))
        pairs.append((a, b))
    return tuple(pairs)


def swap_label_channels(scores: Tensor, pairs: Sequence[tuple[int, int]]) -> Tensor:
    """Swap the class channels a <-> b of every pair (left/right classes of a flipped view).

    Args:
        scores: (N, K, H, W) logits or probabilities.
        pairs: (a, b) class indices, each class in at most one pair.

    Returns:
        (N, K, H, W), a new tensor (``scores`` itself when ``pairs`` is empty).
    """
    if not pairs:
        return scores
    order = list(range(scores.shape[1]))
    for a, b in pairs:
        order[a], order[b] = b, a
    return scores[:, order]


def slide_windows(size: tuple[int, int], crop_size: tuple[int, int],
                  stride: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Sliding-window grid of the official / mmseg slide inference.

    Windows start every ``stride`` pixels; the last window of a row/column is snapped back so
    that it ends at the border; a window is never larger than the image.

    Args:
        size: image (H, W) in pixels.
        crop_size: window (width, height) in pixels.
        stride: step (width, height) in pixels.

    Returns:
        list of (y1, y2, x1, x2) pixel bounds, end exclusive, row-major.
    """
    h, w = size
    crop_w, crop_h = crop_size
    stride_w, stride_h = stride
    rows = max(math.ceil((h - crop_h) / stride_h), 0) + 1
    cols = max(math.ceil((w - crop_w) / stride_w), 0) + 1
    windows = []
    for r in range(rows):
        for c in range(cols):
            y2 = min(r * stride_h + crop_h, h)
            x2 = min(c * stride_w + crop_w, w)
            windows.append((max(y2 - crop_h, 0), y2, max(x2 - crop_w, 0), x2))
    return windows


@MODELS.register_module()
class EncoderDecoder(BaseModel):
    """HRNetV2 segmentation model (also any backbone/neck/head triple producing logits).

    Data flow: ``data_preprocessor`` -> ``backbone`` (list of branches) -> ``neck`` (e.g.
    ``HRNetV2Concat``) -> ``decode_head`` (e.g. ``SegHead``) -> logits (N, K, H/4, W/4) with K
    the number of classes. The logits are upsampled to the label size once per output for all
    of its losses and ``acc_seg`` (when they agree on ``align_corners``; each loss otherwise
    resizes them itself).

    Heads with several outputs (``OCRHead``: ``[aux_logits, logits]``) expose ``num_outputs``
    and return a list; every output gets the losses, times its entry of ``loss_weights``
    (official ``LOSS.BALANCE_WEIGHTS``, HRNet-OCR lib/core/criterion.py), and the **last**
    output is the prediction (official ``TEST.OUTPUT_INDEX = -1``): inference, ``acc_seg`` and
    ``'tensor'`` mode use it alone.

    Args:
        backbone: backbone config, e.g. ``dict(type='HRNet', arch='w48', ...)``.
        decode_head: head config; the head must expose ``num_classes``. Without
            ``in_channels`` it takes the neck's ``out_channels`` (or the backbone's).
        neck: optional neck config; without ``in_channels`` it takes the backbone's
            ``out_channels`` (one per branch). Given values must agree (ConfigError otherwise).
        loss: one loss config or a list of them; default ``dict(type='CrossEntropyLoss')``.
            Each loss module must expose ``loss_name`` (its key in the loss dict) and
            ``ignore_index`` (the first loss's is used for ``acc_seg``). Applied to the last
            (main) output of a multi-output head; its keys are the plain ``loss_name``.
        aux_loss: loss config(s) for the other outputs of a multi-output head; default: the
            same modules as ``loss``. Their keys are ``aux.<loss_name>`` (``aux<i>.`` when the
            head has more than two outputs). ConfigError with a single-output head.
        loss_weights: one non-negative weight per head output, auxiliary outputs first and the
            main output last, e.g. ``(0.4, 1.0)`` for OCR; default 1.0 for every output. Each
            loss of output i is multiplied by ``loss_weights[i]``.
        data_preprocessor: config or module; default ``SegDataPreprocessor`` (ImageNet
            mean/std, pad image 0 / label 255).
        test_cfg: inference options, all optional:
            ``mode``: ``'whole'`` (default) or ``'slide'``.
            ``crop_size``, ``stride``: slide window and step, **(width, height)** pixels.
            ``scales``: list of image scale factors for multi-scale testing (default [1.0]).
            ``flip``: also run the horizontally flipped image.
            ``tta_combine``: how views are combined when there is more than one:
            ``'softmax'`` (default; mean of per-view softmax probabilities, as mmseg TTA) or
            ``'exp_sum'`` (official HRNet ``multi_scale_inference``: flip-averaged logits,
            ``exp``, upsampled to the input and summed over scales). With a single view the
            logits are used directly.
            ``flip_label_pairs``: list of (a, b) class index pairs swapped in the flipped view
            before it is combined (left/right classes; official lib/datasets/lip.py
            ``inference``: (14, 15), (16, 17), (18, 19)). Only used when ``flip`` is on.
        align_corners: for resizing logits to the input / original image size.
        init_cfg: mmengine init config.

    Modes of ``forward(inputs, data_samples, mode)``:
        ``'loss'``: dict of losses (``loss_name`` of every loss) and ``acc_seg`` (pixel accuracy
        in [0, 1] over the non-ignored pixels, not back-propagated).
        ``'predict'``: the data samples with ``pred_seg_map`` (H, W) int64 at the original image
        size (``ori_shape``), after removing the batch padding (``img_shape``).
        ``'tensor'``: logits (N, K, H/4, W/4) straight from the head (its last output).
    """

    def __init__(self, backbone: dict, decode_head: dict, *, neck: Optional[dict] = None,
                 loss: Union[dict, Sequence[dict], None] = None,
                 aux_loss: Union[dict, Sequence[dict], None] = None,
                 loss_weights: Optional[Sequence[float]] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 test_cfg: Optional[dict] = None, align_corners: bool = False,
                 init_cfg: Union[dict, list, None] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SegDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Built here from the hrnet_train registry: BaseModel would use mmengine's registry,
            # which only finds our classes inside a Runner's default scope.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        # Each part takes its input channels from the part before it when the config omits
        # them, so `model.backbone.arch=w48` alone switches the model.
        channels = getattr(self.backbone, 'out_channels', None)
        source = describe(self.backbone)
        self.neck = None
        if neck is not None:
            if channels is not None:
                neck = fill_in_channels(neck, channels, key='model.neck', source=source)
            self.neck = MODELS.build(neck)
            channels, source = getattr(self.neck, 'out_channels', None), describe(self.neck)
        if channels is not None:
            decode_head = fill_in_channels(decode_head, channels, key='model.decode_head',
                                           source=source)
        self.decode_head = MODELS.build(decode_head)
        if not hasattr(self.decode_head, 'num_classes'):
            raise ValueError(f'decode_head {decode_head.get("type")} must expose num_classes')
        self.num_classes = int(self.decode_head.num_classes)

        if loss is None:
            loss = dict(type='CrossEntropyLoss')
        loss_cfgs = [loss] if isinstance(loss, dict) else list(loss)
        if not loss_cfgs:
            raise ValueError('loss must be a loss config or a non-empty list of them')
        self.losses = self._build_losses(loss_cfgs, 'loss')
        self.ignore_index = int(getattr(self.losses[0], 'ignore_index', 255))
        self.num_outputs = int(getattr(self.decode_head, 'num_outputs', 1))
        self.aux_losses = None  # None: the auxiliary outputs reuse self.losses
        if aux_loss is not None:
            if self.num_outputs == 1:
                raise ConfigError(f'model.aux_loss is set but decode_head '
                                  f'{type(self.decode_head).__name__} has a single output')
            aux_cfgs = [aux_loss] if isinstance(aux_loss, dict) else list(aux_loss)
            self.aux_losses = self._build_losses(aux_cfgs, 'aux_loss')
        if loss_weights is None:
            loss_weights = (1.0,) * self.num_outputs
        if (not isinstance(loss_weights, (list, tuple)) or len(loss_weights) != self.num_outputs
                or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                           for w in loss_weights)):
            raise ConfigError(f'model.loss_weights must be {self.num_outputs} non-negative '
                              f'number(s), one per output of decode_head '
                              f'{type(self.decode_head).__name__} (auxiliary first, main last), '
                              f'got {loss_weights!r}')
        self.loss_weights = tuple(float(w) for w in loss_weights)

        self.align_corners = align_corners
        self._parse_test_cfg(test_cfg or {})

    @staticmethod
    def _build_losses(cfgs: list, key: str) -> nn.ModuleList:
        if not cfgs:
            raise ValueError(f'{key} must be a loss config or a non-empty list of them')
        losses = nn.ModuleList(MODELS.build(cfg) for cfg in cfgs)
        names = [getattr(m, 'loss_name', None) for m in losses]
        if None in names or len(set(names)) != len(names):
            raise ValueError(f'every loss needs a distinct loss_name, got {names}')
        return losses

    def _output_prefix(self, index: int) -> str:
        """Loss-dict key prefix of head output ``index``: '' for the main (last) output."""
        if index == self.num_outputs - 1:
            return ''
        return 'aux.' if self.num_outputs == 2 else f'aux{index}.'

    def _parse_test_cfg(self, cfg: dict) -> None:
        unknown = set(cfg) - _TEST_CFG_KEYS
        if unknown:
            raise ValueError(f'unknown test_cfg keys {sorted(unknown)}; '
                             f'expected a subset of {sorted(_TEST_CFG_KEYS)}')
        self.test_mode = cfg.get('mode', 'whole')
        if self.test_mode not in ('whole', 'slide'):
            raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got {self.test_mode!r}")
        self.crop_size = self.stride = None
        if self.test_mode == 'slide':
            if 'crop_size' not in cfg or 'stride' not in cfg:
                raise ValueError("test_cfg.mode='slide' needs crop_size and stride (width, height)")
            self.crop_size = _pair_of_positive_ints(cfg['crop_size'], 'crop_size')
            self.stride = _pair_of_positive_ints(cfg['stride'], 'stride')
        scales = cfg.get('scales') or [1.0]
        if not all(isinstance(s, (int, float)) and s > 0 for s in scales):
            raise ValueError(f'test_cfg.scales must be positive numbers, got {scales!r}')
        self.test_scales = tuple(float(s) for s in scales)
        self.test_flip = bool(cfg.get('flip', False))
        self.tta_combine = cfg.get('tta_combine', 'softmax')
        if self.tta_combine not in ('softmax', 'exp_sum'):
            raise ValueError("test_cfg.tta_combine must be 'softmax' or 'exp_sum', "
                             f'got {self.tta_combine!r}')
        self.flip_label_pairs = _check_flip_label_pairs(cfg.get('flip_label_pairs') or [],
                                                        self.num_classes)

    def check_dataset_meta(self, meta: dict, *, split: str = 'dataset') -> None:
        """Raise ConfigError when the dataset's classes do not fit the head."""
        classes = meta.get('classes')
        if classes is not None and len(classes) != self.num_classes:
            raise ConfigError(f'model.decode_head.num_classes={self.num_classes} but the {split} '
                              f'has {len(classes)} classes (metainfo.classes); set both to the '
                              'number of classes in the label maps')

    # ------------------------------------------------------------------ network
    def extract_outputs(self, inputs: Tensor) -> list[Tensor]:
        """(N, 3, H, W) normalised images -> every head output, each (N, K, H/4, W/4); the
        last one is the prediction."""
        feats = self.backbone(inputs)
        if self.neck is not None:
            feats = self.neck(feats)
        outputs = self.decode_head(feats)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if len(outputs) != self.num_outputs:
            raise ValueError(f'decode_head returned {len(outputs)} outputs but declares '
                             f'num_outputs={self.num_outputs}')
        return outputs

    def extract_logits(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) normalised images -> (N, K, H/4, W/4) logits of the main output."""
        return self.extract_outputs(inputs)[-1]

    def _forward(self, inputs: Tensor) -> Tensor:
        return self.extract_logits(inputs)

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        return forward_by_mode(self, inputs, data_samples, mode)

    # ------------------------------------------------------------------ training
    @staticmethod
    def _stack_labels(data_samples: Sequence[BaseDataElement]) -> Tensor:
        maps = []
        for sample in data_samples:
            if 'gt_seg_map' not in sample:
                raise KeyError('loss mode needs data samples with a gt_seg_map field')
            seg = sample.gt_seg_map
            seg = seg.data if hasattr(seg, 'data') else seg
            seg = torch.as_tensor(seg)
            maps.append(seg[0] if seg.dim() == 3 else seg)  # (H, W)
        if len({tuple(m.shape) for m in maps}) != 1:
            raise ValueError(
                f'gt_seg_map sizes differ within the batch ({[tuple(m.shape) for m in maps]}); '
                'run the SegDataPreprocessor with training=True to pad them')
        return torch.stack(maps).long()  # (N, H, W)

    def loss(self, inputs: Tensor, data_samples: Sequence[BaseDataElement]) -> dict:
        labels = self._stack_labels(data_samples).to(inputs.device)
        outputs = self.extract_outputs(inputs)
        losses = {}
        for i, (output, weight) in enumerate(zip(outputs, self.loss_weights)):
            main = i == len(outputs) - 1
            modules = self.losses if main or self.aux_losses is None else self.aux_losses
            prefix = self._output_prefix(i)
            resized, corners = _resize_once(modules, output, labels)
            for m in modules:
                value = m(resized, labels)
                losses[prefix + m.loss_name] = value if weight == 1.0 else value * weight
            if main:  # acc_seg reuses the main output's resize where it has the model's corners
                main_up = resized if corners == self.align_corners else None
        with torch.no_grad():
            if main_up is None:
                main_up = resize_logits_to_labels(outputs[-1], labels,
                                                  align_corners=self.align_corners)
            valid = labels != self.ignore_index
            correct = (argmax(main_up, 1) == labels) & valid
            losses['acc_seg'] = correct.sum().float() / valid.sum().clamp(min=1).float()
        return losses

    # ------------------------------------------------------------------ inference
    def _whole_logits(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) -> (N, K, H, W) logits resized to the input."""
        logits = self.extract_logits(inputs)
        if logits.shape[-2:] != inputs.shape[-2:]:
            logits = F.interpolate(logits, size=inputs.shape[-2:], mode='bilinear',
                                   align_corners=self.align_corners)
        return logits

    def _slide_logits(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) -> (N, K, H, W) logits averaged over overlapping windows."""
        n, _, h, w = inputs.shape
        logits = inputs.new_zeros((n, self.num_classes, h, w))
        count = inputs.new_zeros((1, 1, h, w))
        for y1, y2, x1, x2 in slide_windows((h, w), self.crop_size, self.stride):
            logits[:, :, y1:y2, x1:x2] += self._whole_logits(inputs[:, :, y1:y2, x1:x2])
            count[:, :, y1:y2, x1:x2] += 1
        return logits / count

    def _single_view_logits(self, inputs: Tensor) -> Tensor:
        if self.test_mode == 'slide':
            return self._slide_logits(inputs)
        return self._whole_logits(inputs)

    def inference(self, inputs: Tensor) -> Tensor:
        """Class scores at the (padded) input size, after multi-scale / flip TTA.

        Args:
            inputs: (N, 3, H, W) normalised images.

        Returns:
            (N, K, H, W): logits for a single view; otherwise softmax probabilities averaged
            over views (``tta_combine='softmax'``) or the official sum over scales of
            exp(flip-averaged logits) (``'exp_sum'``). The argmax is the prediction in all cases.
        """
        h, w = inputs.shape[-2:]
        views_per_scale = 2 if self.test_flip else 1
        if len(self.test_scales) == 1 and self.test_scales[0] == 1.0 and views_per_scale == 1:
            return self._single_view_logits(inputs)

        total = None
        for scale in self.test_scales:
            x = inputs
            if scale != 1.0:
                size = (int(h * scale + 0.5), int(w * scale + 0.5))  # official rounding
                # The official code resizes the normalised image with cv2 INTER_LINEAR, which
                # is half-pixel aligned: align_corners=False.
                x = F.interpolate(inputs, size=size, mode='bilinear', align_corners=False)
            view_logits = [self._single_view_logits(x)]
            if self.test_flip:
                flipped = self._single_view_logits(x.flip(-1)).flip(-1)
                view_logits.append(swap_label_channels(flipped, self.flip_label_pairs))
            if self.tta_combine == 'softmax':
                score = sum(v.softmax(dim=1) for v in view_logits)
            else:
                score = (sum(view_logits) / len(view_logits)).exp()
            if score.shape[-2:] != (h, w):
                score = F.interpolate(score, size=(h, w), mode='bilinear',
                                      align_corners=self.align_corners)
            total = score if total is None else total + score
        if self.tta_combine == 'softmax':
            total = total / (len(self.test_scales) * views_per_scale)
        return total

    def predict(self, inputs: Tensor,
                data_samples: Optional[Sequence[BaseDataElement]] = None) -> list:
        n, _, h, w = inputs.shape
        if data_samples is None:
            data_samples = [BaseDataElement(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
                            for _ in range(n)]
        if len(data_samples) != n:
            raise ValueError(f'got {len(data_samples)} data samples for a batch of {n}')
        scores = self.inference(inputs)
        for i, sample in enumerate(data_samples):
            img_h, img_w = tuple(sample.metainfo.get('img_shape', (h, w)))[:2]
            ori_h, ori_w = tuple(sample.metainfo.get('ori_shape', (img_h, img_w)))[:2]
            score = scores[i:i + 1, :, :img_h, :img_w]  # drop the batch padding
            if (img_h, img_w) != (ori_h, ori_w):
                score = F.interpolate(score, size=(ori_h, ori_w), mode='bilinear',
                                      align_corners=self.align_corners)
            sample.pred_seg_map = argmax(score[0], 0)  # (H_ori, W_ori) int64
        return list(data_samples)
