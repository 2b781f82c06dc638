"""Check a whole config against the registries before anything is built.

Every dict with a ``type`` is looked up in the registry that its position implies
(``model.*`` -> MODELS, ``*_dataloader.dataset`` -> DATASETS, pipeline entries -> TRANSFORMS, ...;
see ``_top_level_kind`` and ``_child_kind``), and its keys are checked against the constructor
signature of that class, following ``**kwargs`` up the MRO. A position that implies no registry
searches every registry. Top-level keys that are near misses of what the Runner reads are
reported too. The first problem raises :class:`~hrnet_train.utils.errors.ConfigError` with one
line such as ``model.backbone.archh: HRNet has no argument 'archh'; did you mean 'arch'?``.
"""
from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Iterable, Mapping, Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import Registry

from hrnet_train.utils.errors import ConfigError

# Keys that a builder pops or supplies itself before it calls the constructor.
_BUILDER_KEYS: dict[str, frozenset] = {
    'hook': frozenset({'priority'}),  # Runner.register_hook
    'scheduler': frozenset({'convert_to_iter_based'}),  # build_scheduler_from_cfg
    'optim_wrapper': frozenset({'constructor', 'paramwise_cfg'}),  # build_optim_wrapper
    'norm': frozenset({'requires_grad'}),  # mmcv build_norm_layer
}
_ALWAYS_ALLOWED = frozenset({'type', '_scope_'})
# mmengine Runner.build_dataloader pops these; the rest goes to torch's DataLoader.
_DATALOADER_KEYS = frozenset({'dataset', 'sampler', 'batch_sampler', 'collate_fn',
                              'worker_init_fn', 'num_batch_per_epoch',
                              'disable_subprocess_warning'})
# Read from the config by mmengine's Runner (beyond its __init__ arguments) or hrnet-train's.
_RUNNER_CONFIG_KEYS = frozenset({
    'model_wrapper_cfg', 'sync_bn', 'find_unused_parameters', 'activation_checkpointing',
    'efficient_conv_bn_eval', 'compile', 'channels_last', 'gemm_weight_grad', 'fuse_bn',
    'keep_freed_memory',
    'fused_optimizer',
    'runner_type',
    'custom_imports', 'strategy', 'tta_model', 'tta_pipeline', 'work_dir', 'launcher'})
# mmcv 1.x / mmdet 2.x keys that mmengine never reads; an outdated config is an error.
_LEGACY_KEYS = {
    'lr_config': 'param_scheduler', 'log_config': "default_hooks.logger and visualizer",
    'checkpoint_config': 'default_hooks.checkpoint', 'optimizer_config': 'optim_wrapper',
    'evaluation': 'val_evaluator and train_cfg.val_interval', 'workflow': 'train_cfg',
    'total_epochs': 'train_cfg.max_epochs', 'runner': 'train_cfg', 'dist_params': 'env_cfg',
    'fp16': "optim_wrapper=dict(type='AmpOptimWrapper', ...) or --amp",
}
# Position kinds whose dicts are read by their owner, not built from a registry (detection
# models' train_cfg/test_cfg hold assigners and NMS settings of other libraries).
_OPAQUE = 'opaque'
_NEAR_MISS = 0.85  # difflib ratio of a top-level typo; the configs' own variables stay below
_DID_YOU_MEAN = 0.6


def validate_config(cfg: Union[Config, Mapping]) -> None:
    """Raise :class:`ConfigError` for the first unknown key, unknown type or top-level typo.

    Args:
        cfg: an ``mmengine.Config`` (or plain dict) after ``_base_`` merging and
            ``--cfg-options``. ``custom_imports`` must already be imported
            (``Config.fromfile`` does that).

    Raises:
        ConfigError: with one line ``<dotted key>: <what is wrong>; did you mean ...?``.
    """
    _check_top_level_keys(cfg)
    for key, value in cfg.items():
        _check_top_level_entry(key, value)


@functools.lru_cache(maxsize=None)
def known_top_level_keys() -> frozenset:
    """Every top-level key that mmengine's or hrnet-train's Runner reads."""
    from hrnet_train.engine.runner import Runner
    return frozenset(accepted_arguments(Runner) or ()) | _RUNNER_CONFIG_KEYS


def accepted_arguments(obj: Any) -> Optional[frozenset]:
    """The keyword arguments ``obj(**kwargs)`` accepts; ``None`` when that cannot be known.

    A class's ``__init__`` that takes ``**kwargs`` is followed up the MRO (``super().__init__``
    receives them) until an ``__init__`` without ``**kwargs``, ``nn.Module`` or ``object``.
    """
    if inspect.isclass(obj):
        names: set[str] = set()
        for klass in obj.__mro__:
            init = vars(klass).get('__init__')
            if init is None:
                continue
            if klass in (object, nn.Module):  # nn.Module.__init__ rejects every keyword
                return frozenset(names)
            params = _parameters(init)
            if params is None:
                return None
            names |= {p.name for p in params[1:] if p.kind in _NAMED}  # [0] is self
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                return frozenset(names)
        return frozenset(names)
    if callable(obj):
        params = _parameters(obj)
        if params is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return frozenset(p.name for p in params if p.kind in _NAMED)
    return None


def did_you_mean(word: str, candidates: Iterable[str], *, cutoff: float = _DID_YOU_MEAN) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate (case-insensitive), else ``''``."""
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(c.lower(), c)
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return f"; did you mean '{by_lower[match[0]]}'?" if match else ''


# ------------------------------------------------------------------------------ top level
def _check_top_level_keys(cfg: Union[Config, Mapping]) -> None:
    known = known_top_level_keys()
    if 'runner_type' in cfg:  # a custom Runner may read keys of its own
        return
    for key in cfg:
        if key in _LEGACY_KEYS:
            raise ConfigError(f'{key}: an mmcv 1.x key that mmengine does not read; use '
                              f'{_LEGACY_KEYS[key]} instead')
        if key in known or key.endswith('_pipeline'):  # pipelines are helper variables
            continue
        hint = did_you_mean(key, known, cutoff=_NEAR_MISS)
        if hint:
            raise ConfigError(f'{key}: not a key the Runner reads{hint}')


def _top_level_kind(key: str) -> Optional[str]:
    if key in ('model', 'tta_model', 'data_preprocessor'):
        return 'model'
    if key.endswith('pipeline'):
        return 'transform'
    return {'codec': 'codec', 'norm_cfg': 'norm', 'vis_backends': 'vis_backend',
            'visualizer': 'visualizer', 'param_scheduler': 'scheduler', 'custom_hooks': 'hook',
            'init_cfg': 'init', 'optimizer': 'optimizer'}.get(key)


def _check_top_level_entry(key: str, value: Any) -> None:
    if key.endswith('_dataloader') and isinstance(value, Mapping):
        _check_dataloader(value, key)
    elif key.endswith('_evaluator'):
        _check_evaluator(value, key)
    elif key == 'default_hooks' and isinstance(value, Mapping):
        for name, hook in value.items():
            if isinstance(hook, Mapping):
                if 'type' not in hook:
                    raise ConfigError(f"{key}.{name}: no 'type' (default_hooks entries replace "
                                      "mmengine's whole entry, e.g. type='LoggerHook')")
                _check_node(hook, f'{key}.{name}', 'hook')
    elif key == 'train_cfg' and isinstance(value, Mapping):
        default, extra = None, frozenset()
        if 'type' not in value and 'by_epoch' in value:  # hrnet_train Runner.build_train_loop
            default = 'EpochBasedTrainLoop' if value['by_epoch'] else 'IterBasedTrainLoop'
            extra = frozenset({'by_epoch'})  # popped to choose the loop
        _check_node(value, key, 'loop', default_type=default, extra=extra)
    elif key in ('val_cfg', 'test_cfg') and isinstance(value, Mapping):
        _check_node(value, key, 'loop', default_type='ValLoop' if key == 'val_cfg' else 'TestLoop')
    elif key == 'optim_wrapper' and isinstance(value, Mapping):
        if 'optimizer' in value or 'type' in value:
            _check_node(value, key, 'optim_wrapper', default_type='OptimWrapper')
        else:  # several optimizers: name -> optim_wrapper
            for name, wrapper in value.items():
                _check_node(wrapper, f'{key}.{name}', 'optim_wrapper',
                            default_type='OptimWrapper')
    elif key == 'log_processor' and isinstance(value, Mapping):
        _check_node(value, key, 'log_processor', default_type='LogProcessor')
    elif key == 'model_wrapper_cfg' and isinstance(value, Mapping):
        _check_node(value, key, 'model_wrapper', default_type='MMDistributedDataParallel')
    else:
        _check_node(value, key, _top_level_kind(key))


def _check_dataloader(loader: Mapping, path: str) -> None:
    from torch.utils.data import DataLoader
    accepted = (accepted_arguments(DataLoader) or frozenset()) | _DATALOADER_KEYS
    for key in loader:
        if key not in accepted:
            raise ConfigError(f"{path}.{key}: the dataloader has no argument '{key}'"
                              f'{did_you_mean(key, accepted)}')
    for key, value in loader.items():
        kind = {'dataset': 'dataset', 'sampler': 'sampler', 'batch_sampler': 'sampler',
                'collate_fn': 'function', 'worker_init_fn': 'function'}.get(key)
        _check_node(value, f'{path}.{key}', kind)


def _check_evaluator(evaluator: Any, path: str) -> None:
    if isinstance(evaluator, Mapping) and 'metrics' in evaluator:
        _check_node(evaluator, path, 'evaluator', default_type='Evaluator')
    else:
        _check_node(evaluator, path, 'metric')


# ------------------------------------------------------------------------------ any node
def _child_kind(kind: Optional[str], key: str) -> Optional[str]:
    """The kind of the value under ``key`` of a node of ``kind`` (None: search every registry)."""
    if key == 'init_cfg' or (kind == 'init' and key == 'override'):
        return 'init'
    if key == 'norm_cfg':
        return 'norm'
    if key == 'codec':
        return 'codec'
    if kind == 'model':
        if key in _TASK_UTIL_KEYS:  # detection heads: anchors, coders, assigners, samplers
            return 'task_util'
        if key == 'roi_layer':  # an op spec (type='RoIAlign'), checked by SingleRoIExtractor
            return _OPAQUE
        return _OPAQUE if key in ('train_cfg', 'test_cfg') else 'model'
    if kind == 'dataset':
        if key == 'pipeline':
            return 'transform'
        if key in ('dataset', 'datasets'):
            return 'dataset'
    if kind == 'transform':
        if key in ('encoder', 'decoder'):  # GenerateTarget(encoder=codec)
            return 'codec'
        if key == 'transforms':  # RandomApply, RandomChoice, Compose
            return 'transform'
    if kind == 'visualizer' and key == 'vis_backends':
        return 'vis_backend'
    if kind == 'optim_wrapper' and key == 'optimizer':
        return 'optimizer'
    if kind == 'evaluator' and key == 'metrics':
        return 'metric'
    return None


def _check_node(node: Any, path: str, kind: Optional[str], *, default_type: Optional[str] = None,
                extra: frozenset = frozenset()) -> None:
    if kind == _OPAQUE:
        return
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _check_node(item, f'{path}.{i}', kind)
        return
    if not isinstance(node, Mapping):
        return
    type_ = node.get('type', default_type)
    if type_ is not None:
        obj = _resolve(type_, kind, path)
        _check_arguments(obj, type_, node, path, kind, extra)
    for key, value in node.items():
        if key != 'type' and isinstance(value, (Mapping, list, tuple)):
            _check_node(value, f'{path}.{key}', _child_kind(kind, key))


def _check_arguments(obj: Any, type_: Any, node: Mapping, path: str, kind: Optional[str],
                     extra: frozenset) -> None:
    accepted = accepted_arguments(obj)
    if accepted is None:
        return
    accepted = accepted | _BUILDER_KEYS.get(kind, frozenset()) | _ALWAYS_ALLOWED | extra
    name = getattr(obj, '__name__', str(obj))
    if isinstance(type_, str) and type_.rsplit('.', 1)[-1] != name:
        name = f"{name} (type='{type_}')"
    for key in node:
        if key not in accepted:
            shown = sorted(accepted - _ALWAYS_ALLOWED - {'self'})
            hint = did_you_mean(key, shown) or f" (it takes: {', '.join(shown)})"
            raise ConfigError(f"{path}.{key}: {name} has no argument '{key}'{hint}")


# ------------------------------------------------------------------------------ registries
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_KIND_NAMES = {
    'model': 'model', 'codec': 'keypoint codec', 'dataset': 'dataset', 'transform': 'transform',
    'sampler': 'data sampler', 'metric': 'metric', 'evaluator': 'evaluator', 'hook': 'hook',
    'optim_wrapper': 'optimizer wrapper', 'optimizer': 'optimizer',
    'scheduler': 'parameter scheduler', 'loop': 'loop', 'visualizer': 'visualizer',
    'vis_backend': 'visualization backend', 'log_processor': 'log processor',
    'init': 'weight initializer', 'norm': 'norm layer', 'model_wrapper': 'model wrapper',
    'function': 'function', 'task_util': 'task util',
}
# Keys of detection components whose values are TASK_UTILS configs (mmdet 3.x names).
_TASK_UTIL_KEYS = frozenset({'anchor_generator', 'prior_generator', 'bbox_coder', 'assigner',
                             'sampler'})


def _parameters(func: Any) -> Optional[list]:
    try:
        return list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return None


def _registries() -> dict[str, Registry]:
    import mmengine.registry as mm

    from hrnet_train import registry as reg
    return {
        'model': reg.MODELS, 'codec': reg.KEYPOINT_CODECS, 'dataset': reg.DATASETS,
        'transform': reg.TRANSFORMS, 'sampler': reg.DATA_SAMPLERS, 'metric': reg.METRICS,
        'evaluator': reg.EVALUATOR, 'hook': reg.HOOKS, 'optim_wrapper': reg.OPTIM_WRAPPERS,
        'optimizer': reg.OPTIMIZERS, 'scheduler': reg.PARAM_SCHEDULERS, 'loop': reg.LOOPS,
        'visualizer': reg.VISUALIZERS, 'vis_backend': reg.VISBACKENDS,
        'log_processor': reg.LOG_PROCESSORS, 'init': reg.WEIGHT_INITIALIZERS,
        'norm': reg.MODELS,  # mmcv registers BN, SyncBN, GN, ... in mmengine's MODELS
        'model_wrapper': reg.MODEL_WRAPPERS, 'function': mm.FUNCTIONS,
        'runner': reg.RUNNERS, 'constructor': reg.OPTIM_WRAPPER_CONSTRUCTORS,
        'task_util': reg.TASK_UTILS,
    }


def _lookup(registry: Registry, name: str) -> Any:
    try:
        return registry.get(name)
    except Exception:  # noqa: BLE001 - mmengine raises RuntimeError for unimportable names
        return None


def _resolve(type_: Any, kind: Optional[str], path: str) -> Any:
    """The class (or function) ``type_`` names: first in the registry of ``kind``, then in
    every registry."""
    if not isinstance(type_, str):
        if callable(type_):
            return type_
        raise ConfigError(f'{path}.type: must be a registered name (a string), got {type_!r}')
    registries = _registries()
    preferred = registries.get(kind)
    if preferred is not None:
        found = _lookup(preferred, type_)
        if found is not None:
            return found
    for registry in registries.values():
        found = _lookup(registry, type_)
        if found is not None:
            return found
    if preferred is not None:
        names = _registered_names(preferred, norm_only=kind == 'norm')
        what = f'a registered {_KIND_NAMES[kind]}'
    else:
        names = set().union(*(_registered_names(r) for r in registries.values()))
        what = 'registered in any hrnet-train or mmengine registry'
    raise ConfigError(f"{path}.type: '{type_}' is not {what}{did_you_mean(type_, names)}")


def _registered_names(registry: Registry, *, norm_only: bool = False) -> set[str]:
    """Names visible from ``registry``: its own and its ancestors'."""
    registry.import_from_location()
    names: set[str] = set()
    node: Optional[Registry] = registry
    while node is not None:
        for name, obj in node.module_dict.items():
            if not norm_only or (inspect.isclass(obj) and issubclass(obj, _NORM_BASES)):
                names.add(name)
        node = node.parent
    return names


_NORM_BASES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
