"""Load any official or OpenMMLab HRNet checkpoint into hrnet-train models.

Handled containers and namings (REFERENCE §2.3):

- plain state dicts: official ImageNet / pose releases, timm (bare backbone keys, plus
  ``final_layer.*`` pose head, ``last_layer.*`` seg head or the classification head keys);
- ``{'state_dict': ...}`` with a ``module.`` prefix (official pose ``checkpoint.pth``);
- ``model.`` prefix plus ``loss.*`` buffers (official segmentation ``FullModel``);
- ``backbone.`` / ``neck.`` / ``head.`` / ``decode_head.`` (OpenMMLab and hrnet-train checkpoints);
- ``backbone.body.`` (maskrcnn-benchmark).

Keys are first rewritten into hrnet-train's canonical whole-model naming (``backbone.*``,
``head.final_layer.*``, ``decode_head.last_layer.*``, ``cls_head.*``, ``neck.*``), then matched against
the target model; for a bare backbone the ``backbone.`` prefix is dropped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from hrnet_train.utils.safe_load import safe_torch_load

_BACKBONE_ROOTS = frozenset({'conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1',
                             'transition2', 'transition3', 'stage2', 'stage3', 'stage4'})
_CLS_ROOTS = frozenset({'incre_modules', 'downsamp_modules', 'classifier'})
_MODEL_ROOTS = ('backbone.', 'neck.', 'head.', 'decode_head.', 'auxiliary_head.', 'cls_head.',
                'rpn_head.', 'roi_head.', 'bbox_head.')
# mmseg FCNHead naming -> the official V2 head ``last_layer.{0,1,3}``.
_MMSEG_HEAD_RENAMES = (('decode_head.convs.0.conv.', 'decode_head.last_layer.0.'),
                       ('decode_head.convs.0.bn.', 'decode_head.last_layer.1.'),
                       ('decode_head.conv_seg.', 'decode_head.last_layer.3.'))


@dataclass
class LoadReport:
    """What happened to every key. ``missing``: target keys the file lacked; ``unexpected``: file
    keys with no place in the model; ``skipped``: file keys dropped on purpose (loss buffers, the
    classification head when the model has none); ``filled``: ``num_batches_tracked`` set to 0."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)

    def summary(self) -> str:
        def _fmt(keys: list[str]) -> str:
            return ', '.join(keys[:8]) + (f', ... (+{len(keys) - 8})' if len(keys) > 8 else '')
        lines = [f'loaded {len(self.loaded)} tensors']
        for name in ('missing', 'unexpected', 'skipped', 'filled'):
            keys = getattr(self, name)
            if keys:
                lines.append(f'{name} ({len(keys)}): {_fmt(keys)}')
        return '; '.join(lines)


def unwrap_state_dict(obj: Any, *, source: str = 'checkpoint') -> dict[str, torch.Tensor]:
    """Return the tensor dict inside any known container.

    ``{'state_dict': ...}`` (official pose/seg training checkpoints, mmengine) is unwrapped; a plain
    dict of tensors is returned as is. Anything else raises ``ValueError`` naming ``source``.
    """
    if isinstance(obj, Mapping) and 'state_dict' in obj and isinstance(obj['state_dict'], Mapping):
        obj = obj['state_dict']
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f'{source}: expected a state dict or a dict with a "state_dict" entry, '
                         f'got {type(obj).__name__}')
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f'{source}: contains no tensors (keys: {list(obj)[:5]})')
    return dict(tensors)


def canonical_key(key: str) -> Optional[str]:
    """Rewrite one key from any known naming into hrnet-train's whole-model naming.

    Returns None for keys that are never weights of a model (``loss.*`` buffers of the official
    segmentation ``FullModel``).
    """
    for wrapper in ('module.', 'model.'):
        while key.startswith(wrapper):
            key = key[len(wrapper):]
    if key.startswith('loss.'):
        return None
    if key.startswith('backbone.body.'):
        return 'backbone.' + key[len('backbone.body.'):]
    if key.startswith('backbone.neck.'):
        return 'neck.' + key[len('backbone.neck.'):]
    for old, new in _MMSEG_HEAD_RENAMES:
        if key.startswith(old):
            return new + key[len(old):]
    if key.startswith(_MODEL_ROOTS):
        return key
    root = key.split('.', 1)[0]
    if root in _BACKBONE_ROOTS:
        return 'backbone.' + key
    if root == 'last_layer':  # official seg V2 head
        return 'decode_head.' + key
    if root in _CLS_ROOTS or key.startswith(('final_layer.0.', 'final_layer.1.')):
        return 'cls_head.' + key  # official / timm classification head
    if root == 'final_layer':  # official pose head: final_layer.{weight,bias}
        return 'head.' + key
    return key


def _is_cls_head_key(key: str) -> bool:
    return key.startswith('cls_head.')


def convert_state_dict(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                       ) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Map ``state`` (any known naming) onto the keys of ``target`` (a model's ``state_dict()``).

    Raises:
        ValueError: listing every key whose shape differs between file and model.
    """
    report = LoadReport()
    bare_backbone = not any(k.startswith('backbone.') for k in target)
    has_cls_head = any(_is_cls_head_key(k) for k in target) or (
        bare_backbone and any(k.split('.', 1)[0] in _CLS_ROOTS for k in target))
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        ckey = canonical_key(key)
        if ckey is None:
            report.skipped.append(key)
            continue
        if bare_backbone:
            if ckey.startswith('backbone.'):
                ckey = ckey[len('backbone.'):]
            elif _is_cls_head_key(ckey) and has_cls_head:
                ckey = ckey[len('cls_head.'):]
        if ckey not in target:
            if _is_cls_head_key(ckey) and not has_cls_head:
                report.skipped.append(key)
            else:
                report.unexpected.append(key)
            continue
        out[ckey] = value
    mismatched = [f'{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}'
                  for k, v in out.items() if tuple(v.shape) != tuple(target[k].shape)]
    if mismatched:
        raise ValueError(f'{len(mismatched)} shape mismatch(es) between checkpoint and model: '
                         + '; '.join(mismatched[:6]) + (' ...' if len(mismatched) > 6 else ''))
    for key, value in target.items():
        if key in out:
            continue
        if key.endswith('num_batches_tracked'):
            # maskrcnn-benchmark's FrozenBN and old torch files have no such buffer.
            out[key] = torch.zeros_like(value)
            report.filled.append(key)
        else:
            report.missing.append(key)
    report.loaded = sorted(k for k in out if k not in report.filled)
    return out, report


def load_official_weights(model: nn.Module,
                          checkpoint: Union[str, os.PathLike, Mapping[str, Any]], *,
                          strict: bool = True, ignore_missing: Sequence[str] = (),
                          logger: Optional[MMLogger] = None) -> LoadReport:
    """Load an official / OpenMMLab / hrnet-train HRNet checkpoint into ``model``.

    Args:
        model: a bare ``HRNet`` or a whole hrnet-train model (``backbone.*``, ``head.*`` ...).
        checkpoint: a file path (loaded with weights_only=True semantics) or an in-memory dict.
        strict: raise ``KeyError`` when a model key is missing from the file or a file key has no
            place in the model (after the intended skips). Shape mismatches always raise.
        ignore_missing: key prefixes allowed to be missing even when strict, e.g.
            ``('head.',)`` to fine-tune a new head on pretrained backbone weights.

    Returns:
        the ``LoadReport``; every missing/unexpected/skipped key is also logged.
    """
    source = os.fspath(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else 'checkpoint'
    obj = safe_torch_load(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else checkpoint
    state = unwrap_state_dict(obj, source=source)
    target = model.state_dict()
    try:
        converted, report = convert_state_dict(state, target)
    except ValueError as exc:
        raise ValueError(f'{source}: {exc}') from None
    logger = logger or MMLogger.get_current_instance()
    logger.info(f'load {source}: {report.summary()}')
    missing = [k for k in report.missing if not k.startswith(tuple(ignore_missing))]
    if strict and (missing or report.unexpected):
        raise KeyError(f'{source}: {len(missing)} missing key(s) {missing[:6]} and '
                       f'{len(report.unexpected)} unexpected key(s) {report.unexpected[:6]} '
                       '(pass strict=False to load anyway)')
    model.load_state_dict(converted, strict=False)
    return report
