"""CPU inference with oneDNN's fused convolutions: BatchNorm folded, weights prepacked, each
ReLU and residual addition inside the convolution before it (``fuse_bn = 'onednn'``,
``tools/test.py --onednn``, ``init_model(fuse_bn='onednn')``, ``benchmark.py --onednn``).

The patterns, after :func:`~.fuse_bn.fuse_batchnorm` turned every folded norm into
``nn.Identity``:

- ``nn.Sequential(conv, [Identity ...], ReLU)`` (transitions, fusion chains, heads; the ReLU
  may sit in a nested ``Sequential``, the OCR head's folded ``BNReLU``): the ReLU runs in the
  convolution, the ``ReLU`` module becomes ``Identity``;
- the Basic/Bottleneck blocks: every inner ReLU in its convolution, and the last convolution
  computes ``relu(conv(x) + identity)`` in one kernel (``fused_residual``);
- the HRNet stem: both ReLUs in their convolutions;
- every other ``nn.Conv2d``: prepacked, no epilogue.

The values are the folded model's up to float rounding (relative 1e-6 on HRNet outputs).
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from hrnet_train.models.layers.blocks import BasicBlock, Bottleneck
from hrnet_train.models.layers.gemm_wgrad_conv import PLAIN_CONV_TYPES
from hrnet_train.models.layers.onednn_conv import OneDNNConv2d, onednn_available

from .fuse_bn import count_batchnorms, fuse_batchnorm

__all__ = ['apply_fuse_bn', 'fuse_onednn', 'onednn_summary']


def _packable(module: Optional[nn.Module]) -> bool:
    return (type(module) in PLAIN_CONV_TYPES and module.padding_mode == 'zeros'
            and not isinstance(module.padding, str))


def _next_relu(seq: nn.Sequential, start: int) -> Optional[tuple[nn.Sequential, str]]:
    """Where ``seq``'s modules from ``start`` on are ``Identity*`` then a ``ReLU`` (looking into
    a nested ``Sequential`` too: the OCR head's ``conv, Sequential(bn, relu)``): (the
    container, the ReLU's name); else None."""
    names = list(seq._modules)[start:]
    for name in names:
        child = seq._modules[name]
        if type(child) is nn.ReLU:
            return seq, name
        if isinstance(child, nn.Sequential):
            return _next_relu(child, 0)
        if not isinstance(child, nn.Identity):
            return None
    return None


def _fuse_sequential(seq: nn.Sequential) -> None:
    """``conv, Identity*, ReLU`` -> ``OneDNNConv2d(post='relu'), Identity*, Identity``."""
    for k, name in enumerate(list(seq._modules)):
        if not _packable(seq._modules[name]):
            continue
        found = _next_relu(seq, k + 1)
        if found is not None:
            seq._modules[name] = OneDNNConv2d.from_conv(seq._modules[name], 'relu')
            found[0]._modules[found[1]] = nn.Identity()


def _fuse_block(block: nn.Module, names: tuple[str, ...]) -> None:
    """A Basic/Bottleneck block with folded norms: every conv with its ReLU, the last with the
    residual too."""
    if not all(_packable(getattr(block, n)) and isinstance(getattr(block, 'bn' + n[4:]),
                                                           nn.Identity) for n in names):
        return
    for n in names:
        setattr(block, n, OneDNNConv2d.from_conv(getattr(block, n), 'relu'))
    block.fused_residual = True


def _fuse_stem(net: nn.Module) -> None:
    """The HRNet stem ``relu(bn2(conv2(relu(bn1(conv1(x))))))``, norms folded: both ReLUs in the
    convolutions; ``net.relu`` (used by the stem only) becomes ``Identity``."""
    if all(_packable(getattr(net, n, None)) for n in ('conv1', 'conv2')) and all(
            isinstance(getattr(net, n, None), nn.Identity) for n in ('bn1', 'bn2')):
        net.conv1 = OneDNNConv2d.from_conv(net.conv1, 'relu')
        net.conv2 = OneDNNConv2d.from_conv(net.conv2, 'relu')
        net.relu = nn.Identity()


def fuse_onednn(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """``model`` for CPU inference through oneDNN's fused kernels (see the module docstring).

    Args:
        model: any module (an HRNet model gets every pattern); not modified unless ``inplace``.
        inplace: transform ``model`` itself (no second copy of the weights).

    Returns:
        the transformed module in eval mode; its parameters and state-dict keys are those of
        :func:`fuse_batchnorm`'s result. Outside CPU float32 inference (autograd on, another
        device or dtype) each convolution runs the plain path.

    Raises:
        RuntimeError: this torch build has no usable fused oneDNN kernel (the reason given).
    """
    from hrnet_train.models.backbones.hrnet import HRNet  # models.utils sits below backbones
    ok, why = onednn_available()
    if not ok:
        raise RuntimeError(f'onednn fusion unavailable: {why}')
    fused = fuse_batchnorm(model, inplace=inplace)
    for module in list(fused.modules()):
        if isinstance(module, BasicBlock):
            _fuse_block(module, ('conv1', 'conv2'))
        elif isinstance(module, Bottleneck):
            _fuse_block(module, ('conv1', 'conv2', 'conv3'))
        elif isinstance(module, HRNet):
            _fuse_stem(module)
        elif isinstance(module, nn.Sequential):
            _fuse_sequential(module)
    for module in list(fused.modules()):
        for name, child in list(module._modules.items()):
            if _packable(child):
                module._modules[name] = OneDNNConv2d.from_conv(child)
    return fused


def onednn_summary(model: nn.Module) -> str:
    """One line for the log: how many convolutions run fused, with which epilogues, and how many
    BatchNorms are left unfolded."""
    convs = [m for m in model.modules() if isinstance(m, OneDNNConv2d)]
    plain = sum(type(m) in PLAIN_CONV_TYPES for m in model.modules())
    relu = sum(c.post == 'relu' for c in convs)
    residual = sum(bool(getattr(m, 'fused_residual', False)) for m in model.modules())
    return (f'onednn: {len(convs)} convolutions prepacked ({relu} with their ReLU, {residual} '
            f'with the residual add), {plain} left plain, {count_batchnorms(model)} '
            f'BatchNorms unfolded')


def apply_fuse_bn(model: nn.Module, mode, *, compile=False) -> tuple[str, bool]:
    """Transform ``model`` in place for ``fuse_bn = mode`` (the config key of ``tools/test.py``
    and ``init_model``'s argument): False nothing, True :func:`fuse_batchnorm`, ``'onednn'``
    :func:`fuse_onednn`, or where that kernel is unavailable the folding alone. ``compile``:
    the caller's ``compile`` setting, which ``'onednn'`` excludes.

    Returns:
        (a line for the log, False when ``'onednn'`` fell back to the folding alone).

    Raises:
        ValueError: ``mode`` is not True, False or ``'onednn'``, or ``'onednn'`` with
            ``compile``.
    """
    if not (isinstance(mode, bool) or mode == 'onednn'):
        raise ValueError(f"fuse_bn must be True, False or 'onednn', got {mode!r}")
    if mode == 'onednn' and compile:
        raise ValueError("fuse_bn='onednn' and compile are two ways to the same fused kernels "
                         '(inductor freezing packs them too): choose one')
    if mode is False:
        return '', True
    before = count_batchnorms(model)
    ok, why = onednn_available() if mode == 'onednn' else (False, '')
    if ok:
        fuse_onednn(model, inplace=True)
    else:
        fuse_batchnorm(model, inplace=True)
    line = (f'fuse_bn: folded {before - count_batchnorms(model)}/{before} BatchNorm layers into '
            'their convolutions')
    if ok:
        return f'{line}; {onednn_summary(model)}', True
    if mode == 'onednn':
        return f'{line}; onednn fusion unavailable ({why}): the folding alone', False
    return line, True
