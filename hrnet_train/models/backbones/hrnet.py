"""The one HRNet backbone used by every task (pose, segmentation, detection, classification).

Wang et al., "Deep High-Resolution Representation Learning for Visual Recognition", TPAMI 2020.
The module tree and ``state_dict`` keys follow the official code exactly
(leoxiaobin/deep-high-resolution-net.pytorch:lib/models/pose_hrnet.py,
HRNet/HRNet-Semantic-Segmentation:lib/models/seg_hrnet.py), so official checkpoints load strictly:
``conv1, bn1, conv2, bn2, layer1.*, transition{1,2,3}.*, stage{2,3,4}.{m}.branches.*,
stage{s}.{m}.fuse_layers.{i}.{j}.*``.
"""
from __future__ import annotations

import copy
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from hrnet_train.models.layers import BLOCKS_NAMES, build_norm, conv1x1, conv3x3, make_res_layer
from hrnet_train.models.layers.bn_relu_conv import bn_relu_conv, check_recompute_mode
from hrnet_train.models.layers.checkpoint import checkpoint
from hrnet_train.registry import MODELS


def _stage(num_modules: int, num_branches: int, block: str, num_blocks: Sequence[int],
           num_channels: Sequence[int]) -> dict:
    return dict(num_modules=num_modules, num_branches=num_branches, block=block,
                num_blocks=tuple(num_blocks), num_channels=tuple(num_channels))


def _width_arch(c: int) -> dict:
    """Standard HRNet-Wc: REFERENCE §1.3 (official cls/pose YAMLs)."""
    return dict(
        stage1=_stage(1, 1, 'BOTTLENECK', (4,), (64,)),
        stage2=_stage(1, 2, 'BASIC', (4, 4), (c, 2 * c)),
        stage3=_stage(4, 3, 'BASIC', (4, 4, 4), (c, 2 * c, 4 * c)),
        stage4=_stage(3, 4, 'BASIC', (4, 4, 4, 4), (c, 2 * c, 4 * c, 8 * c)),
    )


#: Every preset, keyed by ``arch``. small-v1/v2 from HRNet/HRNet-Image-Classification:
#: experiments/cls_hrnet_w18_small_v{1,2}_*.yaml (identical in the seg repo).
ARCH_SETTINGS: dict[str, dict] = {f'w{c}': _width_arch(c) for c in (18, 30, 32, 40, 44, 48, 64)}
ARCH_SETTINGS['w18-small-v1'] = dict(
    stage1=_stage(1, 1, 'BOTTLENECK', (1,), (32,)),
    stage2=_stage(1, 2, 'BASIC', (2, 2), (16, 32)),
    stage3=_stage(1, 3, 'BASIC', (2, 2, 2), (16, 32, 64)),
    stage4=_stage(1, 4, 'BASIC', (2, 2, 2, 2), (16, 32, 64, 128)),
)
ARCH_SETTINGS['w18-small-v2'] = dict(
    stage1=_stage(1, 1, 'BOTTLENECK', (2,), (64,)),
    stage2=_stage(1, 2, 'BASIC', (2, 2), (18, 36)),
    stage3=_stage(3, 3, 'BASIC', (2, 2, 2), (18, 36, 72)),
    stage4=_stage(2, 4, 'BASIC', (2, 2, 2, 2), (18, 36, 72, 144)),
)

_STAGE_KEYS = ('num_modules', 'num_branches', 'block', 'num_blocks', 'num_channels')
_EXPANSION = {'BASIC': 1, 'BOTTLENECK': 4}


def _check_extra(extra: dict) -> dict:
    """Validate an explicit per-stage config; errors name the offending key."""
    out = {}
    for s in ('stage1', 'stage2', 'stage3', 'stage4'):
        if s not in extra:
            raise KeyError(f"HRNet extra: missing '{s}' (need stage1..stage4)")
        cfg = dict(extra[s])
        for k in _STAGE_KEYS:
            if k not in cfg:
                raise KeyError(f"HRNet extra.{s}: missing '{k}'")
        cfg['block'] = str(cfg['block']).upper()
        if cfg['block'] not in BLOCKS_NAMES:
            raise ValueError(f"HRNet extra.{s}.block must be BASIC or BOTTLENECK, "
                             f"got '{cfg['block']}'")
        nb = cfg['num_branches']
        if len(cfg['num_blocks']) != nb or len(cfg['num_channels']) != nb:
            raise ValueError(f'HRNet extra.{s}: num_blocks and num_channels need '
                             f'num_branches={nb} entries, got {list(cfg["num_blocks"])} and '
                             f'{list(cfg["num_channels"])}')
        out[s] = cfg
    if out['stage1']['num_branches'] != 1:
        raise ValueError('HRNet extra.stage1.num_branches must be 1')
    return out


class HighResolutionModule(nn.Module):
    """Parallel branches followed by repeated multi-resolution fusion.

    Shapes:
        x[b]: (N, C_b, H / 2**b, W / 2**b) for b < num_branches (H x W: the branch-0 size).
        returns: list of num_branches tensors of the same shapes, or only branch 0 when
        ``multi_scale_output=False`` (official last module of the pose model).

    Fusion output i is ReLU(sum_j f_ij(x_j)): j > i is 1x1 conv + norm then upsampling to the
    exact size of x_i (``upsample_mode`` nearest or bilinear); j < i is (i - j) stride-2 3x3 convs,
    the last without ReLU; j == i is the identity.
    """

    def __init__(self, num_branches: int, block: str, num_blocks: Sequence[int],
                 in_channels: Sequence[int], num_channels: Sequence[int], *,
                 multi_scale_output: bool = True, upsample_mode: str = 'nearest',
                 align_corners: bool = False, norm_cfg: Optional[dict] = None,
                 with_cp: bool = False, fast_fusion: bool = True,
                 recompute_bn_relu: Union[bool, str] = False) -> None:
        super().__init__()
        self.num_branches = num_branches
        self.fast_fusion = fast_fusion
        self.multi_scale_output = multi_scale_output
        self.upsample_mode = upsample_mode
        self.align_corners = align_corners
        expansion = _EXPANSION[block]
        self.branches = nn.ModuleList(
            make_res_layer(block, in_channels[b], num_channels[b], num_blocks[b],
                           norm_cfg=norm_cfg, with_cp=with_cp, fast_add=fast_fusion,
                           recompute_bn_relu=recompute_bn_relu)
            for b in range(num_branches))
        self.out_channels = tuple(c * expansion for c in num_channels)
        self.fuse_layers = self._make_fuse_layers(norm_cfg) if num_branches > 1 else None
        self.relu = nn.ReLU(inplace=False)

    def _make_fuse_layers(self, norm_cfg: Optional[dict]) -> nn.ModuleList:
        chans = self.out_channels
        rows = []
        for i in range(self.num_branches if self.multi_scale_output else 1):
            row: list[Optional[nn.Module]] = []
            for j in range(self.num_branches):
                if j > i:
                    # Official pose code keeps nn.Upsample as element [2]; it has no parameters,
                    # so resizing in forward() keeps the keys identical.
                    row.append(nn.Sequential(conv1x1(chans[j], chans[i]),
                                             build_norm(norm_cfg, chans[i])))
                elif j == i:
                    row.append(None)
                else:
                    convs = []
                    for k in range(i - j):
                        if k == i - j - 1:  # last step maps to C_i, no ReLU
                            convs.append(nn.Sequential(conv3x3(chans[j], chans[i], 2),
                                                       build_norm(norm_cfg, chans[i])))
                        else:
                            convs.append(nn.Sequential(conv3x3(chans[j], chans[j], 2),
                                                       build_norm(norm_cfg, chans[j]),
                                                       nn.ReLU(inplace=True)))
                    row.append(nn.Sequential(*convs))
            rows.append(nn.ModuleList(row))
        return nn.ModuleList(rows)

    def _resize(self, x: Tensor, size: Sequence[int]) -> Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        if self.upsample_mode == 'nearest':
            return F.interpolate(x, size=size, mode='nearest')
        return F.interpolate(x, size=size, mode='bilinear', align_corners=self.align_corners)

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        x = [branch(xb) for branch, xb in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        # ONNX export traces: in-place writes through views are not reliably recorded there.
        fast = self.fast_fusion and not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())
        fuse = self._fuse_fast if fast else self._fuse_plain
        return [fuse(i, row, x) for i, row in enumerate(self.fuse_layers)]

    def _fuse_plain(self, i: int, row: nn.ModuleList, x: list[Tensor]) -> Tensor:
        """Fusion output i written as the definition: out-of-place terms, sum and ReLU."""
        size = x[i].shape[-2:]
        y = None
        for j in range(self.num_branches):
            if j == i:
                term = x[j]
            elif j > i:
                term = self._resize(row[j](x[j]), size)
            else:
                term = row[j](x[j])
            y = term if y is None else y + term
        return self.relu(y)

    def _fuse_fast(self, i: int, row: nn.ModuleList, x: list[Tensor]) -> Tensor:
        """:meth:`_fuse_plain` with one output buffer: the terms are summed in the same order
        (bit-identical results), in place after the first addition, the ReLU in place; without
        autograd (inference), a nearest upsampling by an integer factor is added as a broadcast
        into a 6-D view of the buffer instead of being materialised at full resolution."""
        size = x[i].shape[-2:]
        y: Optional[Tensor] = None  # the output buffer, once a fresh tensor exists
        for j in range(self.num_branches):
            if j == i:  # x[i] is read by the other rows: never written
                y = x[i] if y is None else y.add_(x[i])
                continue
            term = row[j](x[j])
            # The broadcast add only without autograd: its backward (a strided sum) is slower
            # than the upsampling kernel's.
            factor = _integer_factor(term.shape[-2:], size) \
                if j > i and self.upsample_mode == 'nearest' and not (
                    term.requires_grad and torch.is_grad_enabled()) else None
            if factor is None:
                term = self._resize(term, size) if j > i else term
                y = term if y is None else (y + term if y is x[i] else y.add_(term))
                continue
            n, c, h, w = term.shape  # j > i, so y holds x[i] at least
            low = term.view(n, c, h, 1, w, 1)  # broadcast over the two factor axes
            if y is x[i]:
                y = torch.add(y.view(n, c, h, factor, w, factor), low).reshape(y.shape)
            else:
                y.view(n, c, h, factor, w, factor).add_(low)
        return y.relu_()


def _integer_factor(low: Sequence[int], high: Sequence[int]) -> Optional[int]:
    """s when ``high == low * s`` on both axes (one s), else None (nearest resize needed)."""
    s = high[0] // low[0]
    if s >= 1 and high[0] == low[0] * s and high[1] == low[1] * s:
        return s
    return None


@MODELS.register_module()
class HRNet(BaseModule):
    """High-resolution network backbone.

    Args:
        arch: preset name: ``w18, w30, w32, w40, w44, w48, w64, w18-small-v1, w18-small-v2``.
        extra: explicit per-stage config ``dict(stage1=..., ..., stage4=...)`` with keys
            num_modules, num_branches, block ('BASIC' | 'BOTTLENECK'), num_blocks, num_channels;
            used instead of ``arch`` for any other network.
        in_channels: image channels.
        multi_scale_output: False builds the last module of stage 4 with fusion row 0 only
            (official pose model, W32 28.5M parameters) and returns only the stride-4 branch.
        upsample_mode: fusion upsampling, 'nearest' (pose/det/cls official) or 'bilinear'
            (segmentation official). Both resize to the exact target size, so inputs not
            divisible by 32 work.
        align_corners: for bilinear fusion (official seg v1.1: False).
        norm_cfg: mmcv norm config, e.g. ``dict(type='BN', momentum=0.01)`` (seg official) or
            ``dict(type='SyncBN')``. Default BN with momentum 0.1.
        norm_eval: keep every norm layer in eval mode during training (frozen statistics).
        frozen_stages: -1 none; 0 the stem; k >= 1 also stage 1..k (``layer1``, then
            ``transition{k-1}`` and ``stage{k}``) get no gradient and stay in eval mode.
        with_cp: activation checkpointing (training memory for time): True in every residual
            block (mmpose's ``with_cp``); ``'stage1'`` the stem and stage 1 as one segment, the
            best memory per recomputed MAC (W32 256x192 batch 32: 1.36 of 4.6 GB of saved
            activations for ~1/8 more forward MACs, docs/training.md); False none. Batch-norm
            statistics are updated once per step either way (the recomputation leaves them).
        fast_fusion: residual and fusion sums in place into one buffer per output and, in
            inference, nearest upsampling added as a broadcast instead of materialised
            (bit-identical outputs and gradients, fewer activation-sized temporaries; measured in
            docs/benchmark.md); False computes the plain out-of-place form.
        recompute_bn_relu: training memory for a little time: in the stem and every residual
            block, each norm -> ReLU -> conv keeps only the norm's input for backward and
            computes the ReLU output again there (one elementwise pass, no convolution
            recomputed; outputs, statistics and gradients bit-identical on CPU; W32 256x192
            batch 32: 1.0 of 4.8 GB of saved activations, docs/training.md). ``'cpu'``
            (default): for CPU tensors only; True: on every device (on CUDA the norm's native
            kernel replaces cuDNN's: rounding-level differences, not measured for speed);
            False: never. Only for training-mode ``nn.BatchNorm2d`` outside autocast and
            ``torch.compile``; elsewhere the plain modules run.
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=PATH)`` loads any
            official or OpenMMLab HRNet checkpoint (see ``load_official_weights``).

    Shapes:
        x: (N, in_channels, H, W) normalised image.
        returns: list of (N, C * 2**b, ceil(H / 4 / 2**b), ceil(W / 4 / 2**b)) for the 4 branches
        b = 0..3 (C = stage-4 width), or ``[branch 0]`` when ``multi_scale_output=False``.
    """

    def __init__(self, arch: Optional[str] = 'w32', *, extra: Optional[dict] = None,
                 in_channels: int = 3, multi_scale_output: bool = True,
                 upsample_mode: str = 'nearest', align_corners: bool = False,
                 norm_cfg: Optional[dict] = None, norm_eval: bool = False,
                 frozen_stages: int = -1, with_cp: Union[bool, str] = False,
                 fast_fusion: bool = True, recompute_bn_relu: Union[bool, str] = 'cpu',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=copy.deepcopy(init_cfg))
        if extra is not None:
            self.extra = _check_extra(extra)
            self.arch = None
        else:
            if arch not in ARCH_SETTINGS:
                raise ValueError(f"HRNet arch must be one of {sorted(ARCH_SETTINGS)} (or pass "
                                 f"extra=dict(stage1..stage4)), got '{arch}'")
            self.arch = arch
            self.extra = copy.deepcopy(ARCH_SETTINGS[arch])
        if upsample_mode not in ('nearest', 'bilinear'):
            raise ValueError(f"HRNet upsample_mode must be 'nearest' or 'bilinear', "
                             f"got '{upsample_mode}'")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'HRNet frozen_stages must be in [-1, 4], got {frozen_stages}')
        if with_cp not in (False, True, 'stage1'):
            raise ValueError(f"HRNet with_cp must be True, False or 'stage1', got {with_cp!r}")
        self.norm_cfg = None if norm_cfg is None else dict(norm_cfg)
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages
        self.multi_scale_output = multi_scale_output
        self.with_cp = with_cp
        self.recompute_bn_relu = check_recompute_mode(recompute_bn_relu, 'HRNet')
        kw = dict(norm_cfg=self.norm_cfg, with_cp=with_cp is True,
                  recompute_bn_relu=recompute_bn_relu)

        # Stem: two 3x3 stride-2 convs to stride 4.
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = build_norm(self.norm_cfg, 64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = build_norm(self.norm_cfg, 64)
        self.relu = nn.ReLU(inplace=True)

        s1 = self.extra['stage1']
        self.layer1 = make_res_layer(s1['block'], 64, s1['num_channels'][0], s1['num_blocks'][0],
                                     fast_add=fast_fusion, **kw)
        pre_channels = [s1['num_channels'][0] * _EXPANSION[s1['block']]]
        for k in (2, 3, 4):
            cfg = self.extra[f'stage{k}']
            cur = [c * _EXPANSION[cfg['block']] for c in cfg['num_channels']]
            setattr(self, f'transition{k - 1}', self._make_transition(pre_channels, cur))
            stage, pre_channels = self._make_stage(
                cfg, cur, multi_scale_output=(k < 4 or multi_scale_output),
                upsample_mode=upsample_mode, align_corners=align_corners,
                fast_fusion=fast_fusion, **kw)
            setattr(self, f'stage{k}', stage)
        self.out_channels = tuple(pre_channels if multi_scale_output else pre_channels[:1])
        self.out_strides = tuple(4 * 2 ** b for b in range(len(self.out_channels)))
        self._freeze_stages()

    # ----------------------------------------------------------------------------- building
    def _make_transition(self, pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
        """Official ``_make_transition_layer``: None where channels match; a 3x3 conv for a changed
        existing branch; a chain of stride-2 3x3 convs from the last branch for a new one."""
        layers: list[Optional[nn.Module]] = []
        for i, c in enumerate(cur):
            if i < len(pre):
                if c == pre[i]:
                    layers.append(None)
                else:
                    layers.append(nn.Sequential(conv3x3(pre[i], c), build_norm(self.norm_cfg, c),
                                                nn.ReLU(inplace=True)))
            else:
                chain = []
                for j in range(i + 1 - len(pre)):
                    c_in = pre[-1]
                    c_out = c if j == i - len(pre) else c_in
                    chain.append(nn.Sequential(conv3x3(c_in, c_out, 2),
                                               build_norm(self.norm_cfg, c_out),
                                               nn.ReLU(inplace=True)))
                layers.append(nn.Sequential(*chain))
        return nn.ModuleList(layers)

    @staticmethod
    def _make_stage(cfg: dict, in_channels: Sequence[int], *, multi_scale_output: bool,
                    **kw) -> tuple[nn.Sequential, list[int]]:
        modules = []
        channels = list(in_channels)
        for m in range(cfg['num_modules']):
            last = m == cfg['num_modules'] - 1
            module = HighResolutionModule(
                cfg['num_branches'], cfg['block'], cfg['num_blocks'], channels,
                cfg['num_channels'], multi_scale_output=(multi_scale_output or not last), **kw)
            modules.append(module)
            channels = list(module.out_channels)
        return nn.Sequential(*modules), channels

    # ----------------------------------------------------------------------------- forward
    def _stem_and_stage1(self, x: Tensor) -> Tensor:
        x = bn_relu_conv(self.bn1, self.relu, self.conv2, self.conv1(x),
                         recompute=self.recompute_bn_relu)
        return self.layer1(self.relu(self.bn2(x)))

    def forward(self, x: Tensor) -> list[Tensor]:
        stage1 = (self.conv1, self.bn1, self.conv2, self.bn2, self.layer1)
        if (self.with_cp == 'stage1' and torch.is_grad_enabled()
                and any(p.requires_grad for m in stage1 for p in m.parameters())):
            y_list = [checkpoint(self._stem_and_stage1, x, modules=stage1)]
        else:
            y_list = [self._stem_and_stage1(x)]
        for k in (2, 3, 4):
            transition = getattr(self, f'transition{k - 1}')
            x_list = []
            for i, t in enumerate(transition):
                # y_list[i] for existing branches, y_list[-1] for a new one: the general rule
                # (seg master); equal to the official [-1] form for every official config.
                src = y_list[i] if i < len(y_list) else y_list[-1]
                x_list.append(src if t is None else t(src))
            y_list = getattr(self, f'stage{k}')(x_list)
        return y_list

    # ----------------------------------------------------------------------------- freezing
    def _frozen_modules(self) -> list[nn.Module]:
        mods: list[nn.Module] = []
        if self.frozen_stages >= 0:
            mods += [self.conv1, self.bn1, self.conv2, self.bn2]
        if self.frozen_stages >= 1:
            mods.append(self.layer1)
        for k in range(2, self.frozen_stages + 1):
            mods += [getattr(self, f'transition{k - 1}'), getattr(self, f'stage{k}')]
        return mods

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'HRNet':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    # ----------------------------------------------------------------------------- init
    def init_weights(self) -> None:
        """Normal(std=0.001) convs and BN 1/0 (official pose/seg init), then ``init_cfg``: other
        initializers, then ``Pretrained`` last (as mmengine orders them). ``Pretrained`` always
        goes through :class:`hrnet_train.models.utils.Pretrained`, whatever the default scope."""
        from mmengine.model.weight_init import initialize

        from hrnet_train.models.utils.pretrained_init import Pretrained
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        cfgs = [] if self.init_cfg is None else (
            [self.init_cfg] if isinstance(self.init_cfg, dict) else list(self.init_cfg))
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        if others:
            initialize(self, others)
        for cfg in cfgs:
            if cfg.get('type') == 'Pretrained':
                Pretrained(**{k: v for k, v in cfg.items() if k != 'type'})(self)
        self._is_init = True
