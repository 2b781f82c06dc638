"""The one loading path for HRNet weights: tools/test.py, ``load_from``, resume, ``init_cfg``
``Pretrained``, ``init_model`` and the demo all call :func:`load_checkpoint`.

Handled containers and namings (REFERENCE §2.2, §2.3):

- plain state dicts: official ImageNet / pose releases, timm (bare backbone keys, plus
  ``final_layer.*`` pose head, ``last_layer.*`` seg head or the classification head keys);
- ``{'state_dict': ...}`` with a ``module.`` prefix (official pose ``checkpoint.pth``);
- ``model.`` prefix plus ``loss.*`` buffers (official segmentation ``FullModel``);
- ``backbone.`` / ``neck.`` / ``head.`` / ``decode_head.`` (OpenMMLab and hrnet-train checkpoints,
  mmengine's ``{meta, state_dict, optimizer, ...}``), with mmseg's ``FCNHead`` names
  ``decode_head.convs.0.{conv,bn}`` / ``decode_head.conv_seg`` renamed to ``last_layer.{0,1,3}``;
- ``backbone.body.`` (maskrcnn-benchmark);
- the official HRNet + OCR files (``hrnet_ocr_*.pth``, HRNet/HRNet-Semantic-Segmentation branch
  ``HRNet-OCR``): ``model.``-prefixed backbone keys at the root plus the head roots
  ``aux_head.``, ``conv3x3_ocr.``, ``ocr_distri_head.`` and ``cls_head.``, which go under
  ``decode_head.`` (``OCRHead``). ``cls_head.`` is also the root of the ImageNet classifier; it
  is read as the OCR classifier only in a state dict that has OCR keys (``aux_head.`` /
  ``conv3x3_ocr.`` / ``ocr_distri_head.``), see :func:`is_ocr_layout`.

Keys of the file and of the target module are both rewritten into hrnet-train's canonical
whole-model naming (``backbone.*``, ``head.final_layer.*``, ``decode_head.last_layer.*``,
``cls_head.*``, ``neck.*``) and matched there, so the target may be a whole model, a bare backbone
or a bare head.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper

from hrnet_train.utils.errors import CheckpointError
from hrnet_train.utils.safe_load import allow_checkpoint_globals, safe_torch_load

CheckpointLike = Union[str, os.PathLike, Mapping[str, Any]]

#: Names that mmengine's ``CheckpointLoader`` resolves (URLs and model-zoo schemes).
REMOTE_PREFIXES = ('http://', 'https://', 'torchvision://', 'open-mmlab://', 'openmmlab://',
                   'mmcls://', 'modelzoo://', 's3://', 'pavi://')
_WRAPPER_PREFIXES = ('module.', 'model.')
_BACKBONE_ROOTS = frozenset({'conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1',
                             'transition2', 'transition3', 'stage2', 'stage3', 'stage4'})
_CLS_ROOTS = frozenset({'incre_modules', 'downsamp_modules', 'classifier'})
# Official HRNet-OCR head roots (lib/models/seg_hrnet_ocr.py); `cls_head` joins them only in an
# OCR-layout state dict.
_OCR_ROOTS = frozenset({'aux_head', 'conv3x3_ocr', 'ocr_distri_head'})
_MODEL_ROOTS = ('backbone.', 'neck.', 'head.', 'decode_head.', 'auxiliary_head.', 'cls_head.',
                'rpn_head.', 'roi_head.', 'bbox_head.')
# mmseg FCNHead naming -> the official V2 head ``last_layer.{0,1,3}``.
_MMSEG_HEAD_RENAMES = (('decode_head.convs.0.conv.', 'decode_head.last_layer.0.'),
                       ('decode_head.convs.0.bn.', 'decode_head.last_layer.1.'),
                       ('decode_head.conv_seg.', 'decode_head.last_layer.3.'))
_MMSEG_CONV_WEIGHT = 'decode_head.convs.0.conv.weight'
# HRFPN: mmdet 2.x/3.x wrap each conv in a ConvModule (`.conv.`); the official fork keeps the
# reduction conv in a Sequential (`.0.`) and names the level convs `fpn_conv` (REFERENCE §3.8).
# The fork's box head sits at the top level (`bbox_head.*`), mmdet's inside `roi_head.`.
_DET_RENAMES = tuple((re.compile(a), b) for a, b in (
    (r'^neck\.reduction_conv\.(?:conv|0)\.', 'neck.reduction_conv.'),
    (r'^neck\.fpn_convs?\.(\d+)\.(?:conv\.)?', r'neck.fpn_convs.\1.'),
    (r'^bbox_head\.', 'roi_head.bbox_head.'),
))
# Canonical head root -> task, for the "file of another task" hint.
_TASK_OF_ROOT = {'head': 'pose', 'decode_head': 'segmentation', 'auxiliary_head': 'segmentation',
                 'cls_head': 'classification', 'rpn_head': 'detection', 'roi_head': 'detection',
                 'bbox_head': 'detection'}
# Backbone width C = channels of the first stage-2 branch (REFERENCE §2.1).
_WIDTH_KEY = 'backbone.transition1.0.0.weight'
# Fusion rows 1..3 of a stage-4 module: present only with multi_scale_output=True (§2.1).
_MULTISCALE_ROWS = re.compile(r'^backbone\.stage4\.\d+\.fuse_layers\.[123]\.')
_LIST_KEYS = 5  # keys named in an error message


@dataclass
class LoadReport:
    """What happened to every key of one load.

    ``loaded``: model keys copied from the file; ``missing``: model keys the file lacked;
    ``unexpected``: file keys with no place in the model; ``skipped``: file keys dropped on purpose
    (loss buffers, the classification head when the model has none); ``filled``: model keys set
    without a source tensor (``num_batches_tracked`` to 0, the bias that mmseg's head conv lacks
    to 0); ``converted``: file keys whose values were rearranged (the official detection fork's
    background-first box head); ``total``: entries of the model's ``state_dict``; ``hint``: why
    the file may not fit.
    """

    source: str = 'checkpoint'
    total: int = 0
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)
    hint: str = ''

    def summary(self) -> str:
        """``loaded N/M tensors; missing (k): a, b, ...; ...`` on one line."""
        parts = [f'loaded {len(self.loaded)}/{self.total} tensors']
        for name in ('missing', 'unexpected', 'skipped', 'filled', 'converted'):
            keys = getattr(self, name)
            if keys:
                parts.append(f'{name} ({len(keys)}): {_first_keys(keys, 8)}')
        if self.hint and (self.missing or self.unexpected):
            parts.append(self.hint)
        return '; '.join(parts)


def _first_keys(keys: Sequence[str], n: int = _LIST_KEYS, *, sep: str = ', ') -> str:
    return sep.join(keys[:n]) + (f'{sep}... (+{len(keys) - n})' if len(keys) > n else '')


def read_checkpoint(filename: Union[str, os.PathLike], *,
                    map_location: Union[str, torch.device, Callable, None] = 'cpu') -> Any:
    """Read a checkpoint file without loading it into a model.

    Local files go through :func:`safe_torch_load` (``weights_only=True`` plus the mmengine
    allow-list); URLs and ``open-mmlab://`` / ``torchvision://`` ... names (``REMOTE_PREFIXES``)
    through mmengine's ``CheckpointLoader`` inside :func:`allow_checkpoint_globals`.

    Returns:
        the object as saved: a plain state dict or a container such as mmengine's
        ``{meta, state_dict, optimizer, ...}``.

    Raises:
        CheckpointError: naming the file when it does not exist or cannot be unpickled.
    """
    name = os.fspath(filename)
    if name.startswith(REMOTE_PREFIXES):
        from mmengine.runner.checkpoint import CheckpointLoader
        with allow_checkpoint_globals():
            return CheckpointLoader.load_checkpoint(name, map_location=map_location)
    try:
        return safe_torch_load(name, map_location=map_location)
    except (FileNotFoundError, RuntimeError) as exc:
        raise CheckpointError(str(exc)) from exc


def unwrap_state_dict(obj: Any, *, source: str = 'checkpoint') -> dict[str, torch.Tensor]:
    """Return the tensor dict inside any known container.

    ``{'state_dict': ...}`` (official pose/seg training checkpoints, mmengine) and
    ``{'model': {...}}`` are unwrapped; a plain dict of tensors is returned as is.

    Raises:
        CheckpointError: naming ``source`` when ``obj`` holds no tensor dict.
    """
    if isinstance(obj, Mapping):
        for wrapper in ('state_dict', 'model'):
            if isinstance(obj.get(wrapper), Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f'{source}: expected a state dict or a dict with a "state_dict" '
                              f'entry, got {type(obj).__name__}')
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f'{source}: contains no tensors (keys: {list(obj)[:5]})')
    return tensors


def _strip_wrappers(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for wrapper in _WRAPPER_PREFIXES:
            if key.startswith(wrapper):
                key, stripped = key[len(wrapper):], True
    return key


def is_ocr_layout(keys: Iterable[str]) -> bool:
    """True when ``keys`` hold a bare official HRNet-OCR head (``aux_head.*``, ``conv3x3_ocr.*`` or
    ``ocr_distri_head.*`` at the root after ``module.`` / ``model.``), so that their
    ``cls_head.*`` is the OCR classifier, not the ImageNet one."""
    return any(_strip_wrappers(k).split('.', 1)[0] in _OCR_ROOTS for k in keys)


def canonical_key(key: str, *, ocr: bool = False) -> Optional[str]:
    """Rewrite one key from any known naming into hrnet-train's whole-model naming.

    Args:
        key: a file or model key.
        ocr: the key comes from an OCR-layout state dict (:func:`is_ocr_layout`): the root
            ``cls_head.`` and the OCR roots then go under ``decode_head.``.

    Returns None for keys that are never weights of a model (``loss.*`` buffers of the official
    segmentation ``FullModel``).
    """
    key = _strip_wrappers(key)
    if key.startswith('loss.'):
        return None
    if key.split('.', 1)[0] in _OCR_ROOTS or (ocr and key.startswith('cls_head.')):
        return 'decode_head.' + key  # official HRNet-OCR head -> OCRHead
    if key.startswith('backbone.body.'):
        return 'backbone.' + key[len('backbone.body.'):]
    if key.startswith('backbone.neck.'):
        return 'neck.' + key[len('backbone.neck.'):]
    for old, new in _MMSEG_HEAD_RENAMES:
        if key.startswith(old):
            return new + key[len(old):]
    for pattern, new in _DET_RENAMES:
        if pattern.match(key):
            return pattern.sub(new, key, count=1)
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


def _canonical_targets(target: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """Canonical key -> model key. A whole model maps onto itself; a bare backbone or head gains
    its canonical prefix (``conv1.weight`` -> ``backbone.conv1.weight``)."""
    mapping: dict[str, str] = {}
    ocr = is_ocr_layout(target)
    for key in target:
        ckey = canonical_key(key, ocr=ocr)
        if ckey is None or ckey in mapping:
            ckey = key
        mapping[ckey] = key
    return mapping


def _tasks(ckeys: Iterable[str]) -> set[str]:
    return {_TASK_OF_ROOT[k.split('.', 1)[0]] for k in ckeys if k.split('.', 1)[0] in _TASK_OF_ROOT}


def _width(shapes: Mapping[str, Sequence[int]]) -> Optional[int]:
    shape = shapes.get(_WIDTH_KEY)
    return int(shape[0]) if shape is not None else None


def _hint(file_shapes: Mapping[str, Sequence[int]], model_shapes: Mapping[str, Sequence[int]],
          missing: Sequence[str], unexpected: Sequence[str], model_name: str) -> str:
    """Why the file may not fit the model (canonical keys); '' when nothing stands out."""
    hints = []
    file_tasks, model_tasks = _tasks(file_shapes), _tasks(model_shapes)
    if model_tasks and file_tasks != model_tasks:  # a whole model, not a bare backbone
        if file_tasks:
            roots = sorted({k.split('.', 1)[0] + '.*' for k in file_shapes
                            if k.split('.', 1)[0] in _TASK_OF_ROOT})
            hints.append(f'the file holds {", ".join(roots)} ({", ".join(sorted(file_tasks))}) '
                         f'but the model is {model_name}')
        elif any(k.startswith('backbone.') for k in file_shapes):
            hints.append(f'the file holds backbone weights only but the model is {model_name} '
                         "(pretrained weights go in the backbone's init_cfg=dict("
                         "type='Pretrained', checkpoint=...))")
    file_ocr, model_ocr = (any(k.startswith('decode_head.ocr_distri_head.') for k in shapes)
                           for shapes in (file_shapes, model_shapes))
    if file_ocr != model_ocr and any(k.startswith('decode_head.') for k in file_shapes) and any(
            k.startswith('decode_head.') for k in model_shapes):
        hints.append('the file holds an HRNet-OCR head (OCRHead) and the model a plain one'
                     if file_ocr else 'the model has an HRNet-OCR head (OCRHead) and the file '
                     'a plain one')
    for key in ('cls_head.classifier.weight', 'roi_head.bbox_head.fc_cls.weight',
                'decode_head.cls_head.weight'):
        file_k, model_k = file_shapes.get(key), model_shapes.get(key)
        if file_k and model_k and file_k[0] != model_k[0]:
            hints.append(f'the file classifies {file_k[0]} outputs and the model {model_k[0]}: '
                         'another num_classes?')
    file_c, model_c = _width(file_shapes), _width(model_shapes)
    if file_c is not None and model_c is not None and file_c != model_c:
        hints.append(f"the file's backbone has width {file_c} and the model's {model_c}: "
                     'another width?')
    elif file_c is not None and model_c is not None:
        odd_missing = [k for k in missing if k.startswith('backbone.')]
        odd_unexpected = [k for k in unexpected if k.startswith('backbone.')]
        if odd_missing or odd_unexpected:
            rows = odd_missing + odd_unexpected
            if all(_MULTISCALE_ROWS.match(k) for k in rows):
                file_ms = bool(odd_unexpected)
                hints.append(f"the file's backbone was built with multi_scale_output={file_ms} "
                             f"and the model's with {not file_ms}")
            else:
                hints.append('the backbones differ in modules or blocks: another arch '
                             '(e.g. w18 vs w18-small-v2)?')
    return '; '.join(hints)


def convert_state_dict(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                       *, model_name: str = 'the model',
                       ) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Map ``state`` (any known naming) onto the keys of ``target`` (a model's ``state_dict()``).

    Returns:
        the tensors to load, keyed as in ``target`` (filled entries included), and the report.

    Raises:
        CheckpointError: naming the first keys whose shape differs (and their count), or two file
            keys that map onto one model key.
    """
    report = LoadReport(total=len(target))
    to_target = _canonical_targets(target)
    has_cls_head = any(k.startswith('cls_head.') for k in to_target)
    out: dict[str, torch.Tensor] = {}
    source_of: dict[str, str] = {}  # model key -> file key
    file_shapes: dict[str, tuple[int, ...]] = {}
    unexpected_canonical = []
    ocr = is_ocr_layout(state)
    for key, value in state.items():
        ckey = canonical_key(key, ocr=ocr)
        if ckey is None:
            report.skipped.append(key)
            continue
        file_shapes[ckey] = tuple(value.shape)
        tkey = to_target.get(ckey)
        if tkey is not None:
            rearranged = convert_fork_box_head(_strip_wrappers(key), value,
                                               int(target[tkey].shape[0])
                                               if target[tkey].dim() else None)
            if rearranged is not None:
                value = rearranged
                report.converted.append(key)
        if tkey is None:
            if ckey.startswith('cls_head.') and not has_cls_head:
                report.skipped.append(key)
            else:
                report.unexpected.append(key)
                unexpected_canonical.append(ckey)
            continue
        if tkey in out:
            raise CheckpointError(f'file keys {source_of[tkey]} and {key} both map to {tkey}')
        out[tkey] = value
        source_of[tkey] = key
    model_shapes = {ckey: tuple(target[tkey].shape) for ckey, tkey in to_target.items()}
    mismatched = [f'{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}'
                  for k, v in out.items() if tuple(v.shape) != tuple(target[k].shape)]
    if mismatched:
        hint = _hint(file_shapes, model_shapes, (), (), model_name)
        raise CheckpointError(f'{len(mismatched)} tensor(s) of another shape: '
                              + _first_keys(mismatched, 3, sep='; ')
                              + (f' ({hint})' if hint else ''))
    for key, value in target.items():
        if key in out:
            continue
        if key.endswith('num_batches_tracked'):
            # maskrcnn-benchmark's FrozenBN and old torch files have no such buffer.
            out[key] = torch.zeros_like(value)
            report.filled.append(key)
        elif _is_mmseg_conv_bias(key, to_target, source_of):
            # mmseg's ConvModule has no bias before its BN; zero makes ours compute the same.
            out[key] = torch.zeros_like(value)
            report.filled.append(key)
        else:
            report.missing.append(key)
    report.loaded = [k for k in target if k in out and k not in report.filled]
    canonical_of = {tkey: ckey for ckey, tkey in to_target.items()}
    report.hint = _hint(file_shapes, model_shapes, [canonical_of[k] for k in report.missing],
                        unexpected_canonical, model_name)
    return out, report


def convert_fork_box_head(key: str, value: torch.Tensor,
                          model_rows: Optional[int]) -> Optional[torch.Tensor]:
    """Rearrange one box-head tensor of the official detection fork (HRNet/HRNet-Object-
    Detection, mmdet 0.6) into mmdet 3.x's class order; None when ``key`` needs nothing.

    The fork puts background FIRST: ``fc_cls`` rows (C + 1) are [background, class 0, ...] and a
    class-specific ``fc_reg`` has 4 (C + 1) rows, the first 4 for background. Ours (mmdet 2.x/3.x)
    put background LAST and regress only the C classes (REFERENCE §3.8; mmdet
    ``tools/model_converters/upgrade_model_version.py``). Class-agnostic ``fc_reg`` (4 rows,
    Cascade R-CNN) is unchanged.

    Args:
        key: the file key without wrappers; only top-level ``bbox_head.`` keys (where the fork
            keeps its box head; mmdet's are under ``roi_head.``) are fork keys.
        value: (rows, ...) weight or bias.
        model_rows: rows of the model's tensor at that key (None if the model has none).
    """
    if not key.startswith('bbox_head.') or model_rows is None:
        return None
    if re.search(r'(^|\.)fc_cls\.(weight|bias)$', key) and value.shape[0] == model_rows:
        return torch.cat([value[1:], value[:1]], dim=0)
    if (re.search(r'(^|\.)fc_reg\.(weight|bias)$', key) and value.shape[0] == model_rows + 4
            and model_rows > 4):
        return value[4:]
    return None


def _is_mmseg_conv_bias(key: str, to_target: Mapping[str, str],
                        source_of: Mapping[str, str]) -> bool:
    weight = to_target.get('decode_head.last_layer.0.weight')
    return (to_target.get('decode_head.last_layer.0.bias') == key and weight in source_of
            and _strip_wrappers(source_of[weight]) == _MMSEG_CONV_WEIGHT)


def _select_prefix(state: Mapping[str, torch.Tensor], prefix: str,
                   source: str) -> dict[str, torch.Tensor]:
    """mmengine ``PretrainedInit(prefix=...)``: keep the keys under ``prefix``, without it."""
    prefix = prefix if prefix.endswith('.') else prefix + '.'
    selected = {}
    for key, value in state.items():
        key = _strip_wrappers(key)
        if key.startswith(prefix):
            selected[key[len(prefix):]] = value
    if not selected:
        roots = sorted({_strip_wrappers(k).split('.', 1)[0] for k in state})
        raise CheckpointError(f"{source}: no key starts with prefix '{prefix}' "
                              f'(top-level names: {", ".join(roots[:8])})')
    return selected


def load_checkpoint(model: nn.Module, checkpoint: CheckpointLike, *, strict: bool = True,
                    allow_unexpected: bool = False, ignore_missing: Sequence[str] = (),
                    prefix: Optional[str] = None,
                    map_location: Union[str, torch.device, Callable, None] = 'cpu',
                    source: Optional[str] = None,
                    logger: Union[logging.Logger, None] = None) -> LoadReport:
    """Load an official / OpenMMLab / hrnet-train HRNet checkpoint into ``model``.

    Logs one line ``load <source>: loaded N/M tensors`` (M = entries of the model's
    ``state_dict``) followed by the missing / unexpected / skipped / filled keys; WARNING when
    keys are missing, or unexpected without ``allow_unexpected``, else INFO.

    Args:
        model: a whole hrnet-train model (``backbone.*``, ``head.*`` ...), a bare ``HRNet`` or
            head, or a model wrapper (DDP: its ``.module`` is loaded).
        checkpoint: a path or URL / ``open-mmlab://`` name (read with :func:`read_checkpoint`),
            or an already loaded object (mmengine ``{meta, state_dict, ...}``, official
            containers, a plain state dict; ``module.`` / ``model.`` prefixes are stripped).
        strict: a model key missing from the file, or (unless ``allow_unexpected``) a file key
            with no place in the model, raises. The classification head of an ImageNet file,
            ``loss.*`` buffers and ``num_batches_tracked`` never count. Testing and
            ``load_from`` use ``strict=True``; ``init_cfg`` ``Pretrained`` adds
            ``allow_unexpected=True``. ``strict=False`` only reports.
        allow_unexpected: with ``strict``, report unexpected file keys instead of raising.
        ignore_missing: model key prefixes allowed to be missing even when strict, e.g.
            ``('head.',)`` to fine-tune a new head on a pose checkpoint's backbone.
        prefix: load only the file keys under this prefix, without it (mmengine's
            ``PretrainedInit`` argument, e.g. ``'backbone.'``).
        map_location: for reading a file.
        source: the name used in the log line and errors; defaults to the path, or
            ``'checkpoint'`` for an object.
        logger: defaults to mmengine's current ``MMLogger``.

    Returns:
        the ``LoadReport``.

    Raises:
        CheckpointError: one line. Shape mismatches always (naming key, file shape and model
            shape); missing / unexpected keys as ``strict`` says (naming the first keys and the
            counts); both with a hint when the file is of another task, width or arch.
    """
    if is_model_wrapper(model):
        model = model.module
    if isinstance(checkpoint, (str, os.PathLike)):
        source = source or os.fspath(checkpoint)
        checkpoint = read_checkpoint(checkpoint, map_location=map_location)
    source = source or 'checkpoint'
    state = unwrap_state_dict(checkpoint, source=source)
    if prefix:
        state = _select_prefix(state, prefix, source)
    try:
        converted, report = convert_state_dict(state, model.state_dict(),
                                               model_name=type(model).__name__)
    except CheckpointError as exc:
        raise CheckpointError(f'{source}: {exc}') from None
    report.source = source
    missing = [k for k in report.missing if not k.startswith(tuple(ignore_missing))]
    logger = logger or MMLogger.get_current_instance()
    level = logging.WARNING if missing or (report.unexpected and not allow_unexpected) else (
        logging.INFO)
    logger.log(level, f'load {source}: {report.summary()}')
    problems = []
    if strict and missing:
        problems.append(f'{len(missing)} model key(s) missing from the file: '
                        f'{_first_keys(missing)}')
    if strict and not allow_unexpected and report.unexpected:
        problems.append(f'{len(report.unexpected)} file key(s) not in the model: '
                        f'{_first_keys(report.unexpected)}')
    if problems:
        raise CheckpointError(f'{source} does not fit {type(model).__name__} '
                              f'({len(report.loaded)}/{report.total} tensors matched): '
                              + '; '.join(problems)
                              + (f' ({report.hint})' if report.hint else ''))
    model.load_state_dict(converted, strict=False)
    return report


#: The name used before :func:`load_checkpoint` became the one loading path.
load_official_weights = load_checkpoint
