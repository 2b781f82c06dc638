"""CPU benchmark of hrnet-train with the figures and method of the OpenMMLab peer benchmark.

    python tools/analysis/benchmark.py [--quick] [--skip-seg] [--skip-pipeline] [--threads 2]
        [--channels-last] [--fuse-bn | --onednn] [--compile] [--plain-fusion] [--with-cp [stage1]]
        [--plain-bn-relu] [--gemm-weight-grad] [--keep-freed-memory] [--det] [--amp bf16]
        [--out FILE] [--peer PEER_JSON]
    python tools/analysis/benchmark.py --compare OURS_JSON PEER_JSON
    python tools/analysis/benchmark.py --ops [--quick] [--threads 2] [--out FILE]
    python tools/analysis/benchmark.py --optim [--pose-config CONFIG] [--quick] [--out FILE]
    python tools/analysis/benchmark.py --loader [--workers 0,1,2] [--batch-size 32]
        [--reduced-decode] [--loader-model-rate IMG_PER_S] [--out FILE]
    python tools/analysis/benchmark.py --device cuda [--quick] [--device-batch pose=N,seg=N,det=N]
        [--device-hw pose=HxW,seg=HxW,det=HxW] [--skip-pose] [--skip-seg] [--skip-det]
        [--no-compile] [--out FILE]
    python tools/analysis/benchmark.py --switches CONFIG [--switch-pairs 6] [--compile]
        [--keep-freed-memory] [--out FILE]
    python tools/analysis/benchmark.py --ab-peer PEER_BENCH_DIR --peer-site SITE_PACKAGES
        [--ab-pairs 10] [--ab-seg-pairs 5,3] [--quick] [--skip-pose] [--skip-seg] [--channels-last]
        [--fuse-bn | --onednn] [--compile] [--out FILE]

Mirrors ``/work/shared/bench/peer_bench.py`` (mmpose 1.3.2 / mmseg 1.2.2, see docs/benchmark.md) so
the two can be run back to back and compared as ratios on the same machine:

1. fp32 matmul 2048^3 GFLOP/s (best of 4 blocks of 10 runs): the machine reference; a quick matmul
   probe is also taken right before and after every model figure (a contended VM shows there).
2. Pose HRNet-W32 256x192 (``configs/pose/hrnet-w32_coco-256x192.py``): inference img/s at batch 1
   and 8; training step (forward + backward + SGD(momentum 0.9), the config's KeypointMSELoss
   against random heatmaps) at batch 8 and 32, with the peak RSS so far.
3. Seg HRNetV2-W18 / W48 512x1024 (``configs/seg/hrnetv2-w{18,48}_cityscapes-512x1024.py``):
   'whole' inference (logits resized to the input) at batch 1; training step (``mode='loss'``:
   logits resized to the labels, class-weighted CE ignoring 255, pixel accuracy; SGD momentum 0.9,
   weight decay 5e-4) at batch 2.
4. The pose training data pipeline (the config's ``train_pipeline``, built with
   ``CocoKeypointDataset`` over data/coco_tiny) in samples/s, in a child process pinned to one CPU.

Models are built from the configs with the backbone's ``init_cfg=None`` and SyncBN replaced by BN
(single process); weights keep PyTorch's default initialisation, as the peer's. No data
preprocessor runs: inputs are random normalised images. fp32, ``torch.set_num_threads(threads)``,
NCHW unless ``--channels-last``; ``--fuse-bn`` folds the BatchNorms for the inference figures,
``--onednn`` also runs oneDNN's prepacked convolutions with their ReLU and residual add fused
(``fuse_onednn``); ``--amp bf16`` runs the model figures under
``torch.autocast('cpu', torch.bfloat16)``. Timings are the median after warm-up; the number of timed
runs adapts to a time budget exactly as in the peer.

Output: one ``JSON {...}`` line per figure (the peer's keys), a Markdown table, and ``--out``
(default ``benchmark_cpu.json`` in the working directory) holding ``meta``, ``results`` and
``table_md``. ``--peer PEER_JSON`` (the peer's ``--out`` file from the same session) or
``--compare OURS PEER`` prints the ours/peer ratio of every figure.

``--ops`` measures only the detection box ops (``hrnet_train.ops``) with every backend that runs
here (``torch``, and ``torchvision`` where it imports): RoIAlign forward and forward + backward as
the detector's RoI extractor calls it (512 RoIs x 256 channels x 7 x 7 over the stride 4..32 maps
of an 800 x 1216 image, one call per level, adaptive sampling, ``aligned=True``) and NMS of 1000
and 5000 boxes; it prints ms/iter per backend and torch / torchvision when both exist.

``--optim`` measures only ``optimizer.step()`` over the pose config's model parameters: the config's
optimizer (Adam for the pose recipe) and SGD(momentum 0.9), each with torch's default per-tensor
loop, ``foreach=True`` and ``fused=True`` (which the runner builds).

``--loader`` measures the COCO train pipeline through the real data loader instead: the config's
``train_dataloader`` (its sampler, ``pseudo_collate``), built by the runner's ``build_dataloader``
over data/coco_tiny repeated, in samples/s per ``--workers`` count (all CPUs, not pinned), next to
the model's training rate when ``--loader-model-rate`` gives it.

``--ab-peer`` builds the peer's pose model in this process (``peer_bench.py``'s own builders,
mmpose imported from the peer venv's site-packages appended to ``sys.path``) and times the pose
figures as interleaved pairs, peer and ours alternating: the ratio is immune to the host's slow
periods that move separate runs by 10-25 %.

``--device cuda`` measures only the training throughput on an accelerator (no peer runs there):
pose W32 256x192 at batch 128, seg W48 512x1024 at batch 8 and det W32 800x1344 at batch 4, each
fp32 eager (PyTorch's defaults: TF32 in cuDNN convolutions), bf16 autocast + channels_last, and
for pose also compiled; img/s from the median of device-synchronised steps and the allocator's
peak memory (``tools/analysis/gpu_check.sh`` runs it with the loader figure on a device machine).

FLOP convention (as the peer): ``gmacs_per_img`` counts conv/linear multiply-accumulates / 1e9;
achieved GFLOP/s = 2 x MACs / s, training counted as 3 x the forward MACs.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence, Union

if TYPE_CHECKING:
    import torch

FuseBN = Union[bool, str]  # the inference figures' folding: False, True or 'onednn'
ROOT = Path(__file__).resolve().parents[2]
POSE_CONFIG = ROOT / 'configs/pose/hrnet-w32_coco-256x192.py'
SEG_CONFIGS = (('seg_w18', ROOT / 'configs/seg/hrnetv2-w18_cityscapes-512x1024.py'),
               ('seg_w48', ROOT / 'configs/seg/hrnetv2-w48_cityscapes-512x1024.py'))
PIPELINE_CONFIG = ROOT / 'configs/_base_/datasets/coco-keypoints_256x192.py'
COCO_TINY = ROOT / 'data/coco_tiny'
COCO_TINY_ANN = 'annotations/test_coco.json'
COCO_TINY_IMG = 'val2017/'
# leoxiaobin/deep-high-resolution-net.pytorch README: W32 256x192 = 7.1 GFLOPs (MACs / 1024^3);
# the peer reports achieved GFLOP/s at this figure too.
POSE_W32_README_GMACS = 7.1
SEG_INPUT_HW = (512, 1024)


@dataclass(frozen=True)
class Timing:
    """How one figure is timed: ``warm`` untimed calls, then at least ``min_n`` and at most
    ``max_n`` timed calls, stopping once ``min_n`` are done and they took ``budget_s`` seconds."""
    warm: int
    min_n: int
    max_n: int
    budget_s: float


def peer_timings(quick: bool) -> dict[str, Timing]:
    """The peer's repetition settings (peer_bench.py ``run_models``) per figure kind."""
    return dict(
        pose_infer=Timing(3, 5, 30, 4 if quick else 20),
        pose_train=Timing(1 if quick else 2, 3, 10, 5 if quick else 45),
        seg_infer=Timing(1, 3, 10, 5 if quick else 30),
        seg_train=Timing(1, 2 if quick else 3, 6, 5 if quick else 60))


def bench(fn: Callable[[], object], timing: Timing) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` in seconds and the sorted timed runs (peer ``bench``)."""
    for _ in range(timing.warm):
        fn()
    ts: list[float] = []
    while True:
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
        if len(ts) >= timing.max_n or (len(ts) >= timing.min_n and sum(ts) >= timing.budget_s):
            break
    ts.sort()
    n = len(ts)
    med = ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])
    return med, ts


def maxrss_gb() -> float:
    """Peak resident set size of this process so far, GiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def count_macs(model, *inputs) -> int:
    """Conv2d / ConvTranspose2d / Linear multiply-accumulates per image, counted with forward hooks
    in eval mode (bias, norm, activations, resizing and additions ignored): the peer's counter."""
    import torch
    tot = [0]

    def hook(m, inp, out):
        n = out.shape[0]
        if isinstance(m, torch.nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            tot[0] += out.numel() // n * k
        elif isinstance(m, torch.nn.ConvTranspose2d):
            x = inp[0]
            tot[0] += (x.numel() // n * m.out_channels // m.groups
                       * m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, torch.nn.Linear):
            tot[0] += out.numel() // n * m.in_features

    kinds = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return tot[0]


# ------------------------------------------------------------------------------------------------
# Session: records, matmul reference, probes
# ------------------------------------------------------------------------------------------------
class Session:
    """Collects the JSON records of one run and owns the matmul reference.

    Args:
        threads: intra-op threads (``torch.set_num_threads``).
        matmul_n: matrix size of the reference and the probes (2048 as the peer).
        matmul_blocks, matmul_runs: the peak is the best of ``matmul_blocks`` block medians of
            ``matmul_runs`` runs each.
        probe_runs: runs of the quick probe taken before and after every model figure.
        echo: print each record as a ``JSON`` line when it is emitted.
    """

    def __init__(self, *, threads: int = 2, matmul_n: int = 2048, matmul_blocks: int = 4,
                 matmul_runs: int = 10, probe_runs: int = 5, block_pause_s: float = 1.0,
                 echo: bool = True) -> None:
        import torch
        torch.set_num_threads(threads)
        self.threads = threads
        self.n = matmul_n
        self.blocks = matmul_blocks
        self.runs = matmul_runs
        self.probe_runs = probe_runs
        self.block_pause_s = block_pause_s
        self.echo = echo
        self.records: list[dict] = []
        self.peak: Optional[float] = None
        g = torch.Generator().manual_seed(0)
        self._a = torch.randn(matmul_n, matmul_n, generator=g)
        self._b = torch.randn(matmul_n, matmul_n, generator=g)

    def emit(self, rec: dict) -> dict:
        # five significant digits, not decimals: a 4 ms step keeps its precision (0.0040496 s, not
        # 0.004) and the record's img/s stays batch / median_s_per_iter
        rec = {k: (float(f'{v:.5g}') if isinstance(v, float) else v) for k, v in rec.items()}
        self.records.append(rec)
        if self.echo:
            print('JSON ' + json.dumps(rec), flush=True)
        return rec

    def _matmul_gflops(self, warm: int, runs: int) -> float:
        t, _ = bench(lambda: self._a @ self._b, Timing(warm, runs, runs, 0.0))
        return 2 * self.n ** 3 / t / 1e9

    def measure_peak(self) -> dict:
        """fp32 matmul n^3 GFLOP/s: best of the block medians (record ``matmul_fp32_<n>``)."""
        import torch
        blocks = []
        for _ in range(self.blocks):
            blocks.append(self._matmul_gflops(2, self.runs))
            time.sleep(self.block_pause_s)
        self.peak = max(blocks)
        return self.emit(dict(bench=f'matmul_fp32_{self.n}', gflops=self.peak,
                              block_median_gflops=blocks, runs_per_block=self.runs,
                              threads=torch.get_num_threads(),
                              interop_threads=torch.get_num_interop_threads()))

    def probe(self) -> float:
        return round(self._matmul_gflops(1, self.probe_runs), 1)

    def time_model(self, fn: Callable[[], object], timing: Timing, bench_name: str, model: str,
                   mode: str, batch: int, hw: Sequence[int], gmacs: float, params_m: float,
                   **extra) -> dict:
        """Time ``fn`` (one inference or training step of ``batch`` images) between two
        matmul probes and emit its :meth:`model_record`."""
        probe0 = self.probe()
        t, ts = bench(fn, timing)
        return self.model_record(bench_name, model, mode, batch, hw, t, ts, gmacs, params_m,
                                 probe0, **extra)

    def model_record(self, bench_name: str, model: str, mode: str, batch: int,
                     hw: Sequence[int], t: float, ts: list[float], gmacs: float, params_m: float,
                     probe0: float, **extra) -> dict:
        if self.peak is None:
            raise RuntimeError('measure_peak() must run before the model figures')
        mult = 3 if mode == 'train' else 1
        ach = 2 * mult * gmacs * batch / t
        rec = dict(bench=bench_name, model=model, mode=mode, batch=batch, input_hw=list(hw),
                   img_per_s=batch / t, median_s_per_iter=t, runs=len(ts), min_s=ts[0],
                   max_s=ts[-1], gmacs_per_img=gmacs, achieved_gflops=ach,
                   pct_of_matmul_peak=100 * ach / self.peak, params_m=params_m,
                   maxrss_gb_so_far=maxrss_gb(),
                   matmul_probe_gflops_before_after=[probe0, self.probe()])
        gmacs_readme = extra.pop('gmacs_readme', None)
        if gmacs_readme is not None:
            a2 = 2 * mult * gmacs_readme * batch / t
            rec.update(achieved_gflops_at_readme_7_1=a2,
                       pct_of_matmul_peak_at_readme_7_1=100 * a2 / self.peak)
        rec.update(extra)
        return self.emit(rec)


# ------------------------------------------------------------------------------------------------
# Models from the configs
# ------------------------------------------------------------------------------------------------
def _sync_bn_to_bn(cfg):
    """Copy of a config tree with every ``type='SyncBN'`` norm turned into ``'BN'``."""
    if isinstance(cfg, dict):
        out = {k: _sync_bn_to_bn(v) for k, v in cfg.items()}
        if out.get('type') == 'SyncBN':
            out['type'] = 'BN'
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_sync_bn_to_bn(v) for v in cfg)
    return cfg


#: The backbone's speed/memory switches the figures set (``--plain-fusion``, ``--with-cp``,
#: ``--plain-bn-relu``), with the values a figure without them uses (the models' defaults), and
#: ``gemm_weight_grad`` (``--gemm-weight-grad``), which applies to the whole model
#: (:func:`hrnet_train.models.layers.gemm_wgrad_conv.use_gemm_weight_grad`).
BACKBONE_SWITCHES = dict(fast_fusion=True, with_cp=False, recompute_bn_relu='cpu',
                         gemm_weight_grad=False)


def build_model(config: str | os.PathLike, *,
                backbone: Optional[dict] = None) -> 'torch.nn.Module':
    """Build ``cfg.model`` for one process: backbone ``init_cfg=None``, SyncBN -> BN, the
    backbone switches of :data:`BACKBONE_SWITCHES` set (their defaults, updated by
    ``backbone``; ``recompute_bn_relu`` also in a ``SegHead``).

    ``init_weights()`` is not called: parameters keep PyTorch's default initialisation (the peer
    does the same; the official std-0.001 init can drive eval-mode activations into denormals).
    """
    from mmengine.config import Config

    from hrnet_train.registry import MODELS
    from hrnet_train.utils.setup_env import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(str(config))
    model_cfg = _sync_bn_to_bn(cfg.model.to_dict())
    model_cfg['backbone']['init_cfg'] = None
    switches = _backbone_switches(backbone)
    gemm_weight_grad = switches.pop('gemm_weight_grad')
    model_cfg['backbone'].update(switches)
    head = model_cfg.get('decode_head')
    if isinstance(head, dict) and head.get('type') == 'SegHead':
        head['recompute_bn_relu'] = switches['recompute_bn_relu']  # the head's one too
    model = MODELS.build(model_cfg)
    if gemm_weight_grad:
        from hrnet_train.models.layers.gemm_wgrad_conv import use_gemm_weight_grad
        use_gemm_weight_grad(model)
    return model


def _config_input_hw(config: str | os.PathLike) -> tuple[int, int]:
    from mmengine.config import Config
    cfg = Config.fromfile(str(config))
    w, h = cfg.model.get('codec', {}).get('input_size', None) or cfg.get('input_size', (192, 256))
    return int(h), int(w)


def _model_header(session: Session, model, config, name: str, label: str,
                  hw: Sequence[int]) -> tuple[float, float, str, list[dict]]:
    """Parameters (M) and counted GMACs of ``model`` at ``hw``, the figure label with the input
    size, and the emitted ``<name>_macs`` record (in a list, the figures to come appended)."""
    import torch
    params = sum(p.numel() for p in model.parameters()) / 1e6
    gmacs = count_macs(model, torch.randn(1, 3, *hw)) / 1e9
    label = f'{label} {hw[0]}x{hw[1]}'
    out = [session.emit(dict(bench=f'{name}_macs', model=label, params_m=params,
                             gmacs_counted_conv_linear=gmacs, input_hw=list(hw),
                             config=str(config)))]
    return params, gmacs, label, out


def _loss_step(model, opt, x, samples, amp: Optional[str]) -> Callable[[], None]:
    """One training step of a model whose ``loss(x, samples)`` returns a dict of losses: the
    sum of the ``loss*`` entries, backward, ``opt.step()``."""
    def step():
        opt.zero_grad(set_to_none=True)
        with _autocast(amp, x.device.type):
            losses = model.loss(x, samples)
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        opt.step()
    return step


def _autocast(amp: Optional[str], device_type: str = 'cpu'):
    import torch
    if amp is None:
        return contextlib.nullcontext()
    if amp != 'bf16':
        raise ValueError(f"amp must be None or 'bf16', got {amp!r}")
    return torch.autocast(device_type, dtype=torch.bfloat16)


def _prepare(model, x, channels_last: bool):
    import torch
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _backbone_switches(backbone: Optional[dict]) -> dict:
    unknown = set(backbone or {}) - set(BACKBONE_SWITCHES)
    if unknown:
        raise ValueError(f'backbone switches must be among {sorted(BACKBONE_SWITCHES)}, got '
                         f'{sorted(unknown)}')
    return {**BACKBONE_SWITCHES, **(backbone or {})}


def _variant(amp: Optional[str], channels_last: bool, fuse_bn: FuseBN = False,
             compile: bool = False, backbone: Optional[dict] = None) -> dict:
    return dict(precision='bf16-autocast' if amp else 'fp32',
                memory_format='channels_last' if channels_last else 'NCHW',
                fuse_bn=fuse_bn, compiled=compile, **_backbone_switches(backbone))


def _inference_model(model, *, fuse_bn: FuseBN, compile: bool):
    """The eval-mode model the inference figures time: ``model`` itself, or a copy with the
    BatchNorms folded (``fuse_bn`` True; ``'onednn'``: also oneDNN's prepacked, fused
    convolutions, ``fuse_onednn``) and/or the network compiled (inductor freezing, static
    shapes)."""
    import copy

    from hrnet_train.models.utils import compile_network, fuse_batchnorm, fuse_onednn
    model.eval()
    if not (fuse_bn or compile):
        return model
    if fuse_bn == 'onednn':
        net = fuse_onednn(model)
    else:
        net = fuse_batchnorm(model) if fuse_bn else copy.deepcopy(model)
    if compile:
        compile_network(net, freeze=True, dynamic=False)
    return net


def _sgd(model, *, fused_optimizer: bool = True, **kwargs) -> 'torch.optim.SGD':
    """SGD over ``model``'s parameters as the runner builds it: ``fused=True`` where torch has
    the kernel for their device (:mod:`hrnet_train.engine.fused_optimizer`); with
    ``fused_optimizer=False`` torch's default, as the peer's steps keep it."""
    import torch

    from hrnet_train.engine.fused_optimizer import with_fused_optimizer
    if not fused_optimizer:
        return torch.optim.SGD(model.parameters(), **kwargs)
    cfg, _ = with_fused_optimizer(dict(optimizer=dict(type='SGD', **kwargs)), model.parameters())
    kwargs = dict(cfg['optimizer'])
    del kwargs['type']
    return torch.optim.SGD(model.parameters(), **kwargs)


def _sgd_label(opt, args: str) -> str:
    """The records' optimizer: ``SGD(<args>)``, with ``fused`` when it is."""
    return f"SGD({args}{', fused' if opt.defaults.get('fused') else ''})"


def _pose_train_step(model, opt, x, amp: Optional[str]):
    """One training step of a top-down pose model on the batch ``x``: forward
    (``mode='tensor'``), the model's loss module (KeypointMSELoss with target weights) against
    random (N, K, h, w) heatmaps, backward, ``opt.step()``. Returns (step, target heatmaps,
    target weights (N, K))."""
    import torch
    with torch.no_grad():
        hm_hw = model(x[:1]).shape[-2:]
    num_k = model.head.num_keypoints
    target = torch.rand(x.shape[0], num_k, *hm_hw).to(x.device)
    weights = torch.ones(x.shape[0], num_k, device=x.device)

    def step():
        opt.zero_grad(set_to_none=True)
        with _autocast(amp, x.device.type):
            pred = model(x)
        model.loss_module(pred.float(), target, weights).backward()
        opt.step()
    return step, target, weights


def measure_pose(session: Session, config: str | os.PathLike = POSE_CONFIG, *,
                 infer_batches: Sequence[int] = (1, 8), train_batches: Sequence[int] = (8, 32),
                 input_hw: Optional[tuple[int, int]] = None,
                 timings: Optional[dict[str, Timing]] = None, amp: Optional[str] = None,
                 channels_last: bool = False, fuse_bn: FuseBN = False, compile: bool = False,
                 backbone: Optional[dict] = None, name: str = 'pose_w32',
                 label: str = 'hrnet-train HRNet-W32') -> list[dict]:
    """Pose figures: ``<name>_macs``, ``<name>_infer`` per inference batch, ``<name>_train`` per
    training batch. The training step is forward (``mode='tensor'``) + the model's loss module
    (KeypointMSELoss with target weights, against random (N, K, h, w) heatmaps) + backward +
    SGD(lr 1e-3, momentum 0.9), as the peer's step. The speed switches: ``channels_last``,
    ``fuse_bn`` (inference figures), ``compile`` (``compile_network``: freezing for inference,
    static shapes), ``backbone`` (:data:`BACKBONE_SWITCHES`)."""
    import torch
    timings = timings or peer_timings(False)
    hw = tuple(input_hw or _config_input_hw(config))
    torch.manual_seed(0)
    model = build_model(config, backbone=backbone)
    params, gmacs, label, out = _model_header(session, model, config, name, label, hw)
    readme = POSE_W32_README_GMACS if name == 'pose_w32' else None
    var = _variant(amp, channels_last, fuse_bn, compile, backbone)

    net = _inference_model(model, fuse_bn=fuse_bn, compile=compile)
    for bs in infer_batches:
        x = _prepare(net, torch.randn(bs, 3, *hw), channels_last)

        def infer():
            with torch.no_grad(), _autocast(amp):
                return net(x)
        out.append(session.time_model(infer, timings['pose_infer'], f'{name}_infer', label,
                                      'infer', bs, hw, gmacs, params, gmacs_readme=readme,
                                      **var))
    net = None  # frees the inference copy

    model.train()
    if compile:
        from hrnet_train.models.utils import compile_network
        compile_network(model, dynamic=False)
    opt = _sgd(model, lr=1e-3, momentum=0.9)
    for bs in train_batches:
        x = _prepare(model, torch.randn(bs, 3, *hw), channels_last)
        step, _, _ = _pose_train_step(model, opt, x, amp)
        out.append(session.time_model(step, timings['pose_train'], f'{name}_train', label,
                                      'train', bs, hw, gmacs, params, gmacs_readme=readme,
                                      optimizer=_sgd_label(opt, 'momentum=0.9'),
                                      loss='KeypointMSELoss', **var))
    return out  # the model and optimizer are freed with this frame


def interleaved_ab(fn_a: Callable[[], object], fn_b: Callable[[], object], *, pairs: int,
                   warm: int = 2, clock: Callable[[], float] = time.perf_counter) -> dict:
    """Time two functions in one process, alternating the order of each pair (a b, b a, a b,
    ...) after ``warm`` untimed calls of each, so that a slow period of a shared host hits both
    alike. Returns the per-call seconds ``a_s``, ``b_s`` (in pair order), their medians, and
    the median / min / max over the pairs of ``a_s[i] / b_s[i]`` (> 1: ``b`` is faster)."""
    if pairs < 1:
        raise ValueError(f'pairs must be at least 1, got {pairs}')
    for _ in range(warm):
        fn_a()
        fn_b()
    a_s: list[float] = []
    b_s: list[float] = []
    for i in range(pairs):
        order = ((fn_a, a_s), (fn_b, b_s)) if i % 2 == 0 else ((fn_b, b_s), (fn_a, a_s))
        for fn, acc in order:
            t0 = clock()
            fn()
            acc.append(clock() - t0)
    ratios = sorted(a / b for a, b in zip(a_s, b_s))
    return dict(a_s=a_s, b_s=b_s, a_median_s=statistics.median(a_s),
                b_median_s=statistics.median(b_s), ratio_median=statistics.median(ratios),
                ratio_min=ratios[0], ratio_max=ratios[-1])


_PEER_BENCH: dict[str, object] = {}


def _load_peer_bench(peer_dir: str | os.PathLike, peer_site: Optional[str] = None):
    """``peer_dir/peer_bench.py`` as a module (loaded once per process); ``peer_site`` (the
    peer venv's site-packages) appended to ``sys.path``, so that only what this venv lacks
    (mmpose, mmseg) comes from there; neither is ever installed here."""
    import importlib.util
    path = Path(peer_dir) / 'peer_bench.py'
    if not path.is_file():
        raise FileNotFoundError(f'--ab-peer: no peer_bench.py in {peer_dir}')
    if peer_site and str(peer_site) not in sys.path:
        sys.path.append(str(peer_site))
    key = str(path.resolve())
    if key not in _PEER_BENCH:
        spec = importlib.util.spec_from_file_location('_peer_bench', path)
        peer = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(peer)
        _PEER_BENCH[key] = peer
    return _PEER_BENCH[key]


def _peer_import(fn: Callable[[], object], what: str):
    try:
        return fn()
    except ImportError as exc:
        raise FileNotFoundError(f"--ab-peer: cannot import {what} ({exc}); pass --peer-site "
                                "with the peer venv's site-packages") from None


def load_peer_pose(peer_dir: str | os.PathLike, peer_site: Optional[str] = None):
    """The peer's pose model, mmpose 1.3.2 HRNet-W32 + the 1x1 head, built in this process by
    ``peer_bench.py``'s own ``import_mmpose_hrnet`` and ``hrnet_extra`` (as its
    ``run_models`` builds it; see :func:`_load_peer_bench`). Returns an ``nn.Module`` mapping
    (N, 3, H, W) to (N, 17, H/4, W/4)."""
    import torch
    peer = _load_peer_bench(peer_dir, peer_site)
    backbone_cls = _peer_import(peer.import_mmpose_hrnet, 'mmpose')

    class PeerPose(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone_cls(extra=peer.hrnet_extra(32))
            self.final_layer = torch.nn.Conv2d(32, 17, 1)

        def forward(self, x):
            return self.final_layer(self.backbone(x)[0])
    return PeerPose()


_PEER_SEG: dict[str, tuple] = {}


def load_peer_seg(peer_dir: str | os.PathLike, width: int, peer_site: Optional[str] = None):
    """The peer's segmentation model, mmseg 1.2.2 HRNetV2-W``width`` + FCNHead with the
    arguments of ``peer_bench.py``'s ``Seg`` (mmseg configs/_base_/models/fcn_hr18.py, BN for
    SyncBN), its classes from the peer's own ``import_mmseg``. Returns (model, a function
    ``labels -> samples`` for ``model.decode_head.loss_by_feat``): ``model(x)`` gives the
    (N, 19, H/4, W/4) logits."""
    import torch
    from mmengine.structures import PixelData
    key = str(Path(peer_dir).resolve())
    if key not in _PEER_SEG:  # import_mmseg replaces the mmseg package: once per process
        peer = _load_peer_bench(peer_dir, peer_site)
        _PEER_SEG[key] = (peer, _peer_import(peer.import_mmseg, 'mmseg'))
    peer, (hrnet_cls, head_cls, sample_cls) = _PEER_SEG[key]
    norm = dict(type='BN', requires_grad=True)
    chans = [width, 2 * width, 4 * width, 8 * width]

    class PeerSeg(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = hrnet_cls(extra=peer.hrnet_extra(width), norm_cfg=norm,
                                      norm_eval=False)
            self.decode_head = head_cls(
                in_channels=chans, in_index=(0, 1, 2, 3), channels=sum(chans),
                input_transform='resize_concat', kernel_size=1, num_convs=1,
                concat_input=False, dropout_ratio=-1, num_classes=19, norm_cfg=norm,
                align_corners=False, loss_decode=dict(type='CrossEntropyLoss',
                                                      use_sigmoid=False, loss_weight=1.0))

        def forward(self, x):
            return self.decode_head(self.backbone(x))

    def samples(labels):
        return [sample_cls(gt_sem_seg=PixelData(data=lab)) for lab in labels]
    return PeerSeg(), samples


def _ab_record(session: Session, bench_name: str, mode: str, batch: int, hw: Sequence[int],
               ab: dict, pairs: int, variant: dict) -> dict:
    """Emit one A/B record: both img/s from the medians of :func:`interleaved_ab`, the pair
    ratios (ours / peer speed: ``a`` is the peer) and the per-call seconds."""
    return session.emit(dict(
        bench=bench_name, mode=mode, batch=batch, input_hw=list(hw), pairs=pairs,
        peer_img_per_s=batch / ab['a_median_s'], ours_img_per_s=batch / ab['b_median_s'],
        ratio_median=ab['ratio_median'], ratio_min=ab['ratio_min'], ratio_max=ab['ratio_max'],
        peer_s=[round(t, 4) for t in ab['a_s']], ours_s=[round(t, 4) for t in ab['b_s']],
        **variant))


def measure_ab_pose(session: Session, peer_model, config: str | os.PathLike = POSE_CONFIG, *,
                    infer_batches: Sequence[int] = (1, 8), train_batches: Sequence[int] = (8,),
                    input_hw: Optional[tuple[int, int]] = None, pairs: int = 10,
                    channels_last: bool = False, fuse_bn: FuseBN = False, compile: bool = False,
                    backbone: Optional[dict] = None, name: str = 'ab_pose_w32') -> list[dict]:
    """The pose figures as an interleaved A/B against ``peer_model`` in this process (see
    :func:`interleaved_ab`): inference at ``infer_batches`` (ours with the switches, the peer
    NCHW as in its benchmark) and the training step at ``train_batches`` (the peer's: forward,
    ``F.mse_loss`` with target weights, backward, SGD(lr 1e-3, momentum 0.9); ours as in
    :func:`measure_pose`). ``compile``: ours compiled as in :func:`measure_pose` (inference
    with inductor freezing; training without; static shapes). One ``<name>_infer`` /
    ``<name>_train`` record per batch with both img/s and ``ratio_median`` = ours / peer
    speed (> 1: ours is faster)."""
    import torch
    hw = tuple(input_hw or _config_input_hw(config))
    torch.manual_seed(0)
    ours = build_model(config, backbone=backbone)
    var = _variant(None, channels_last, fuse_bn, compile, backbone)
    out = []

    peer_model.eval()
    net = _inference_model(ours, fuse_bn=fuse_bn, compile=compile)
    for bs in infer_batches:
        x = torch.randn(bs, 3, *hw)
        xo = _prepare(net, x.clone(), channels_last)

        def peer_infer():
            with torch.no_grad():
                return peer_model(x)

        def ours_infer():
            with torch.no_grad():
                return net(xo)
        out.append(_ab_record(session, f'{name}_infer', 'infer', bs, hw,
                              interleaved_ab(peer_infer, ours_infer, pairs=pairs), pairs, var))
    net = None

    peer_model.train()
    ours.train()
    if compile:
        from hrnet_train.models.utils import compile_network
        compile_network(ours, dynamic=False)
    peer_opt = torch.optim.SGD(peer_model.parameters(), lr=1e-3, momentum=0.9)
    ours_opt = _sgd(ours, lr=1e-3, momentum=0.9)
    for bs in train_batches:
        x = torch.randn(bs, 3, *hw)
        ours_step, target, weights = _pose_train_step(
            ours, ours_opt, _prepare(ours, x.clone(), channels_last), None)
        tw = weights[..., None, None]

        def peer_step():
            peer_opt.zero_grad(set_to_none=True)
            pred = peer_model(x)
            torch.nn.functional.mse_loss(pred * tw, target * tw).backward()
            peer_opt.step()
        n = max(2, pairs // 2) if bs > 8 else pairs
        out.append(_ab_record(session, f'{name}_train', 'train', bs, hw,
                              interleaved_ab(peer_step, ours_step, pairs=n, warm=1), n,
                              dict(var, ours_optimizer=_sgd_label(ours_opt, 'momentum=0.9'))))
    return out


def measure_ab_seg(session: Session, peer_model, peer_samples: Callable, config: str | os.PathLike,
                   *, name: str, input_hw: tuple[int, int] = SEG_INPUT_HW, infer_pairs: int = 5,
                   train_pairs: int = 3, train_batch: int = 2, channels_last: bool = False,
                   fuse_bn: FuseBN = False, backbone: Optional[dict] = None) -> list[dict]:
    """The segmentation figures as an interleaved A/B against ``peer_model`` (from
    :func:`load_peer_seg`): 'whole' inference at batch 1 (the peer: logits bilinearly resized
    to the input, as its benchmark; ours: ``inference``) and the training step at
    ``train_batch`` (the peer: ``decode_head.loss_by_feat``; ours: ``model.loss``; both SGD lr
    0.01, momentum 0.9, wd 5e-4) on the same random images and labels (19 classes, the first 32
    rows ignored). Records ``<name>_infer`` / ``<name>_train`` as :func:`measure_ab_pose`."""
    import torch
    from mmengine.structures import BaseDataElement
    hw = tuple(input_hw)
    torch.manual_seed(0)
    ours = build_model(config, backbone=backbone)
    if ours.num_classes != 19:
        raise ValueError(f'{config}: the A/B needs a 19-class model (the peer\'s), got '
                         f'{ours.num_classes} classes')
    var = _variant(None, channels_last, fuse_bn, False, backbone)

    peer_model.eval()
    net = _inference_model(ours, fuse_bn=fuse_bn, compile=False)
    x = torch.randn(1, 3, *hw)
    xo = _prepare(net, x.clone(), channels_last)

    def peer_infer():
        with torch.no_grad():
            return torch.nn.functional.interpolate(peer_model(x), size=hw, mode='bilinear',
                                                   align_corners=False)

    def ours_infer():
        with torch.no_grad():
            return net.inference(xo)
    out = [_ab_record(session, f'{name}_infer', 'infer', 1, hw,
                      interleaved_ab(peer_infer, ours_infer, pairs=infer_pairs, warm=1),
                      infer_pairs, var)]
    net = None

    peer_model.train()
    ours.train()
    x = torch.randn(train_batch, 3, *hw)
    xo = _prepare(ours, x.clone(), channels_last)
    labels = _seg_labels(train_batch, hw, 19)
    peer_batch = peer_samples(labels)
    peer_opt = torch.optim.SGD(peer_model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    ours_opt = _sgd(ours, lr=0.01, momentum=0.9, weight_decay=5e-4)

    def peer_step():
        peer_opt.zero_grad(set_to_none=True)
        peer_model.decode_head.loss_by_feat(peer_model(x), peer_batch)['loss_ce'].backward()
        peer_opt.step()
    ours_step = _loss_step(ours, ours_opt, xo, [BaseDataElement(gt_seg_map=lab)
                                                 for lab in labels], None)
    out.append(_ab_record(session, f'{name}_train', 'train', train_batch, hw,
                          interleaved_ab(peer_step, ours_step, pairs=train_pairs, warm=1),
                          train_pairs,
                          dict(var, ours_optimizer=_sgd_label(ours_opt, 'momentum=0.9, wd=5e-4'))))
    return out


def _seg_labels(batch: int, hw: Sequence[int], num_classes: int) -> list:
    """``batch`` random (1, H, W) int64 label maps in [0, num_classes), the first 32 rows
    ignored (255), as the peer's; seeded."""
    import torch
    g = torch.Generator().manual_seed(0)
    labels = []
    for _ in range(batch):
        lab = torch.randint(0, num_classes, (1, *hw), generator=g)
        lab[:, :32] = 255  # some ignored pixels
        labels.append(lab)
    return labels


def measure_seg(session: Session, config: str | os.PathLike, *, name: str, label: str,
                input_hw: tuple[int, int] = SEG_INPUT_HW, infer_batch: int = 1,
                train_batch: int = 2, timings: Optional[dict[str, Timing]] = None,
                amp: Optional[str] = None, channels_last: bool = False, fuse_bn: FuseBN = False,
                compile: bool = False, backbone: Optional[dict] = None) -> list[dict]:
    """Segmentation figures ``<name>_macs``, ``<name>_infer`` ('whole': logits resized to the
    input) and ``<name>_train`` (``model.loss``: logits resized to the labels, the config's CE,
    pixel accuracy; SGD lr 0.01, momentum 0.9, weight decay 5e-4) on random images and labels
    (19 classes, the first 32 rows ignored, as the peer)."""
    import torch
    from mmengine.structures import BaseDataElement
    timings = timings or peer_timings(False)
    hw = tuple(input_hw)
    torch.manual_seed(0)
    model = build_model(config, backbone=backbone)
    params, gmacs, label, out = _model_header(session, model, config, name, label, hw)
    var = _variant(amp, channels_last, fuse_bn, compile, backbone)

    net = _inference_model(model, fuse_bn=fuse_bn, compile=compile)
    x = _prepare(net, torch.randn(infer_batch, 3, *hw), channels_last)

    def infer():
        with torch.no_grad(), _autocast(amp):
            return net.inference(x)
    out.append(session.time_model(infer, timings['seg_infer'], f'{name}_infer', label, 'infer',
                                  infer_batch, hw, gmacs, params, **var))
    net = None  # frees the inference copy

    model.train()
    if compile:
        from hrnet_train.models.utils import compile_network
        compile_network(model, dynamic=False)
    opt = _sgd(model, lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = _prepare(model, torch.randn(train_batch, 3, *hw), channels_last)
    samples = [BaseDataElement(gt_seg_map=lab)
               for lab in _seg_labels(train_batch, hw, model.num_classes)]

    step = _loss_step(model, opt, x, samples, amp)
    out.append(session.time_model(step, timings['seg_train'], f'{name}_train', label, 'train',
                                  train_batch, hw, gmacs, params,
                                  optimizer=_sgd_label(opt, 'momentum=0.9, wd=5e-4'),
                                  loss='CrossEntropyLoss(class_weight)', **var))
    return out  # the model and optimizer are freed with this frame


DET_CONFIG = ROOT / 'configs/det/faster-rcnn_hrnetv2p-w32_1x_coco.py'
# open-mmlab/mmdetection configs/hrnet/README.md: HRNetV2p-W32 Faster R-CNN 1x, 12.4 fps
# inference on one V100 (REFERENCE §3.8); no CPU peer runs detection here.
DET_W32_V100_FPS = 12.4


def _det_samples(n: int, hw: Sequence[int], num_boxes: int, num_classes: int,
                 g: 'torch.Generator', device: str = 'cpu') -> list:
    """``n`` detection data samples of an (H, W) = ``hw`` batch, each with ``num_boxes`` random
    xyxy GT boxes (corners in the top-left 70 %, sides 5-30 % of the image) and labels, no
    ignored boxes; on ``device``."""
    import torch
    from mmengine.structures import BaseDataElement, InstanceData
    meta = dict(img_shape=hw, ori_shape=hw, pad_shape=hw, batch_input_shape=hw,
                scale_factor=(1.0, 1.0))
    out = []
    for i in range(n):
        s = BaseDataElement(metainfo=dict(meta, img_id=i))
        xy = torch.rand(num_boxes, 2, generator=g) * torch.tensor([hw[1] * 0.7, hw[0] * 0.7])
        wh = (torch.rand(num_boxes, 2, generator=g) * 0.25 + 0.05) * torch.tensor(
            [hw[1], hw[0]], dtype=torch.float32)
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, num_classes, (num_boxes,), generator=g)).to(device)
        s.ignored_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                           labels=torch.zeros(0, dtype=torch.long)).to(device)
        out.append(s)
    return out


def measure_det(session: Session, config: str | os.PathLike = DET_CONFIG, *,
                input_hw: tuple[int, int] = (800, 1344), train_batch: int = 2,
                num_boxes: int = 8, timings: Optional[dict[str, Timing]] = None,
                channels_last: bool = False, backbone: Optional[dict] = None,
                name: str = 'det_w32', label: str = 'hrnet-train Faster R-CNN HRNetV2p-W32'
                ) -> list[dict]:
    """Detection figures ``<name>_macs``, ``<name>_infer`` (``predict`` at batch 1: RPN, NMS,
    RoIAlign, box head, NMS) and ``<name>_train`` (``loss`` at ``train_batch``: anchor and RoI
    assignment and sampling, both heads' losses, backward, SGD(0.02, momentum 0.9, wd 1e-4))
    on random images (default 800x1344: 800x1333 padded to a multiple of 32) with
    ``num_boxes`` random GT boxes per image. No peer runs here: the inference record carries the
    published V100 figure (``published_v100_fps``) for reference only (another device)."""
    import torch
    timings = timings or peer_timings(False)
    hw = tuple(input_hw)
    torch.manual_seed(0)
    model = build_model(config, backbone=backbone)
    params, gmacs, label, out = _model_header(session, model, config, name, label, hw)
    model.eval()
    var = _variant(None, channels_last, backbone=backbone)

    def samples(n: int, g: torch.Generator) -> list:
        return _det_samples(n, hw, num_boxes, model.num_classes, g)

    g = torch.Generator().manual_seed(0)
    x = _prepare(model, torch.randn(1, 3, *hw), channels_last)

    def infer():
        with torch.no_grad():
            return model.predict(x, samples(1, g))
    out.append(session.time_model(infer, timings['seg_infer'], f'{name}_infer', label, 'infer',
                                  1, hw, gmacs, params, published_v100_fps=DET_W32_V100_FPS,
                                  **var))

    model.train()
    opt = _sgd(model, lr=0.02, momentum=0.9, weight_decay=1e-4)
    x = _prepare(model, torch.randn(train_batch, 3, *hw), channels_last)
    batch = samples(train_batch, g)

    step = _loss_step(model, opt, x, batch, None)
    out.append(session.time_model(step, timings['seg_train'], f'{name}_train', label, 'train',
                                  train_batch, hw, gmacs, params,
                                  optimizer=_sgd_label(opt, 'momentum=0.9, wd=1e-4'),
                                  loss='RPN + RoI head (CE, L1)', **var))
    return out


# ------------------------------------------------------------------------------------------------
# Training throughput on an accelerator (--device cuda)
# ------------------------------------------------------------------------------------------------
# (label, amp, channels_last, compiled): the issue's fp32 eager baseline and the fast variants
GPU_VARIANTS = (('fp32', None, False, False), ('bf16+channels_last', 'bf16', True, False),
                ('bf16+channels_last+compile', 'bf16', True, True))
# (name, config, kind, batch, input (H, W), variants): the figures of ``--device``
GPU_FIGURES = (
    ('pose_w32', POSE_CONFIG, 'pose', 128, (256, 192), GPU_VARIANTS),
    ('seg_w48', SEG_CONFIGS[1][1], 'seg', 8, SEG_INPUT_HW, GPU_VARIANTS[:2]),
    ('det_w32', DET_CONFIG, 'det', 4, (800, 1344), GPU_VARIANTS[:2]),
)


def _sync(device: 'torch.device') -> None:
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], object], device: 'torch.device', *, warm: int, runs: int,
               clock: Callable[[], float] = time.perf_counter) -> dict:
    """``warm`` untimed calls of ``step``, then ``runs`` timed ones, each ended by a device
    synchronisation (CUDA kernels run asynchronously). Returns median / min / max seconds."""
    if runs < 1:
        raise ValueError(f'runs must be at least 1, got {runs}')
    for _ in range(warm):
        step()
    _sync(device)
    times = []
    for _ in range(runs):
        t0 = clock()
        step()
        _sync(device)
        times.append(clock() - t0)
    return dict(median_s=statistics.median(times), min_s=min(times), max_s=max(times),
                runs=runs)


def _train_step(kind: str, model, x, amp: Optional[str], *,
                fused_optimizer: bool = True) -> Callable[[], None]:
    """The training step of figure ``kind`` ('pose', 'seg', 'det') on ``x``'s device, as the
    CPU figures define it (:func:`_pose_train_step`, :func:`_loss_step`), with the runner's
    fused SGD or, ``fused_optimizer=False``, torch's default (:func:`_sgd`)."""
    import torch
    from mmengine.structures import BaseDataElement
    if kind == 'pose':
        opt = _sgd(model, lr=1e-3, momentum=0.9, fused_optimizer=fused_optimizer)
        return _pose_train_step(model, opt, x, amp)[0]
    n, hw = x.shape[0], tuple(x.shape[-2:])
    if kind == 'seg':
        opt = _sgd(model, lr=0.01, momentum=0.9, weight_decay=5e-4,
                   fused_optimizer=fused_optimizer)
        samples = [BaseDataElement(gt_seg_map=lab.to(x.device))
                   for lab in _seg_labels(n, hw, model.num_classes)]
    elif kind == 'det':
        opt = _sgd(model, lr=0.02, momentum=0.9, weight_decay=1e-4,
                   fused_optimizer=fused_optimizer)
        samples = _det_samples(n, hw, 8, model.num_classes, torch.Generator().manual_seed(0),
                               device=x.device)
    else:
        raise ValueError(f"kind must be 'pose', 'seg' or 'det', got {kind!r}")
    return _loss_step(model, opt, x, samples, amp)


def measure_train_throughput(device: str, config: str | os.PathLike, *, kind: str, batch: int,
                             input_hw: Sequence[int], name: str,
                             variants: Sequence[tuple] = GPU_VARIANTS, warm: int = 5,
                             runs: int = 20, echo: bool = True) -> list[dict]:
    """Training img/s of one model per variant of :data:`GPU_VARIANTS` on ``device``: a fresh
    model (seed 0) per variant, ``channels_last`` weights and batch, bf16 autocast, and
    ``compile_network`` (static shapes) as the variant says; the peak memory the device's
    allocator saw (CUDA; None elsewhere). One ``gpu_<name>_train`` record per variant."""
    import torch

    from hrnet_train.models.utils import compile_network
    dev = torch.device(device)
    out = []
    for label, amp, channels_last, compiled in variants:
        torch.manual_seed(0)
        model = build_model(config).to(dev).train()
        if channels_last:
            model.to(memory_format=torch.channels_last)
        if compiled:
            compile_network(model, dynamic=False)
        x = torch.randn(batch, 3, *input_hw, device=dev)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        step = _train_step(kind, model, x, amp)
        if dev.type == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        t = time_steps(step, dev, warm=warm, runs=runs)
        rec = dict(bench=f'gpu_{name}_train', variant=label, batch=batch,
                   input_hw=list(input_hw), img_per_s=round(batch / t['median_s'], 2),
                   **{k: round(v, 5) if isinstance(v, float) else v for k, v in t.items()},
                   peak_mem_gb=(round(torch.cuda.max_memory_allocated(dev) / 1e9, 2)
                                if dev.type == 'cuda' else None),
                   device=(torch.cuda.get_device_name(dev) if dev.type == 'cuda'
                           else platform.processor() or 'cpu'),
                   **_variant(amp, channels_last, compile=compiled))
        if echo:
            print('JSON ' + json.dumps(rec), flush=True)
        out.append(rec)
        del model, step, x
    return out


def run_device(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """``--device cuda``: the training throughput of :data:`GPU_FIGURES` (no peer), with the
    device, torch and cuDNN versions in ``meta``."""
    import torch
    dev = torch.device(args.device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda: torch.cuda.is_available() is False on this machine')
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S'), torch=torch.__version__,
                argv=sys.argv[1:], device=args.device,
                cuda=torch.version.cuda, cudnn=(torch.backends.cudnn.version()
                                                if dev.type == 'cuda' else None),
                tf32_conv=torch.backends.cudnn.allow_tf32,
                tf32_matmul=torch.backends.cuda.matmul.allow_tf32)
    print('META ' + json.dumps(meta), flush=True)
    records = []
    for name, config, kind, batch, hw, variants in GPU_FIGURES:
        if getattr(args, f'skip_{kind}'):
            continue
        variants = [v for v in variants if not (v[3] and args.no_compile)]
        records += measure_train_throughput(
            args.device, config, kind=kind, batch=args.device_batch.get(kind, batch),
            input_hw=args.device_hw.get(kind, hw), name=name, variants=variants,
            warm=2 if args.quick else 5, runs=5 if args.quick else 20)
    return meta, records


def format_device_table(records: Sequence[dict]) -> str:
    rows = ['| figure | variant | batch | img/s | median s/iter | peak memory (GB) |',
            '|---|---|---|---|---|---|']
    for r in records:
        mem = '' if r['peak_mem_gb'] is None else f"{r['peak_mem_gb']:.2f}"
        rows.append(f"| {r['bench']} | {r['variant']} | {r['batch']} | {r['img_per_s']:.4g} | "
                    f"{r['median_s']:.4g} | {mem} |")
    return '\n'.join(rows)


# ------------------------------------------------------------------------------------------------
# Data pipeline (one core)
# ------------------------------------------------------------------------------------------------
def _with_load_image(pipeline_cfg: list[dict], **options) -> list[dict]:
    """The pipeline with ``options`` set on its LoadImage step."""
    if not any(t.get('type') == 'LoadImage' for t in pipeline_cfg):
        raise ValueError(f'train_pipeline has no LoadImage step to set {", ".join(options)} on')
    return [dict(t, **options) if t.get('type') == 'LoadImage' else t for t in pipeline_cfg]


def _with_reduced_decode(pipeline_cfg: list[dict]) -> list[dict]:
    """The pipeline with ``reduced_decode=True`` on its LoadImage step."""
    return _with_load_image(pipeline_cfg, reduced_decode=True)


def measure_pipeline(config: str | os.PathLike = PIPELINE_CONFIG, *,
                     data_root: str | os.PathLike = COCO_TINY, ann_file: str = COCO_TINY_ANN,
                     img_prefix: str = COCO_TINY_IMG, warm: int = 20, rounds: int = 7,
                     per_round: int = 100, max_instances: int = 200,
                     reduced_decode: bool = False, grouped: bool = False) -> dict:
    """Samples/s of the config's ``train_pipeline`` with ``CocoKeypointDataset`` (record
    ``pose_topdown_train_pipeline``; ``_reduced`` with ``reduced_decode=True`` set on its
    LoadImage: the JPEG is decoded by TopdownAffine, at 1/r when the crop allows;
    ``decode_reductions`` counts the timed samples per r; ``_grouped`` with ``grouped=True``).

    A sample is ``dataset.get_data_info(i)`` (the per-sample copy) followed by every
    transform, as ``dataset[i]`` does. Instances are visited in index order, or with
    ``grouped=True`` in the order of ``ImageGroupedSampler`` (shuffled images, each image's
    instances adjacent; epochs 0, 1, ...) with ``cache_last=True`` on LoadImage, as a training
    run with that sampler draws them. The median over ``rounds`` of the mean time per sample
    within a round is reported, with the mean time of each transform. Runs in the calling
    process: the CLI pins a child process to one CPU first.
    """
    import cv2
    import numpy as np
    from mmengine.config import Config

    from hrnet_train.datasets import CocoKeypointDataset
    from hrnet_train.utils.setup_env import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(str(config))
    pipeline_cfg = [t.to_dict() if hasattr(t, 'to_dict') else dict(t)
                    for t in cfg.train_pipeline]
    if reduced_decode:
        pipeline_cfg = _with_reduced_decode(pipeline_cfg)
    if grouped:
        pipeline_cfg = _with_load_image(pipeline_cfg, cache_last=True)
    data_root = str(data_root)
    ds = CocoKeypointDataset(ann_file=ann_file, data_root=data_root,
                             data_prefix=dict(img=img_prefix), pipeline=pipeline_cfg,
                             indices=max_instances)
    n_inst = len(ds)
    order = list(range(n_inst))
    if grouped:
        from hrnet_train.engine import ImageGroupedSampler
        sampler = ImageGroupedSampler(ds, shuffle=True, seed=0)
        order = []
        for epoch in range(-(-(warm + rounds * per_round) // n_inst)):
            sampler.set_epoch(epoch)
            order += list(sampler)
    transforms = list(ds.pipeline.transforms)
    names = [type(t).__name__ for t in transforms]
    per = {n: 0.0 for n in ['get_data_info'] + names}
    reductions: dict[str, int] = {}
    np.random.seed(0)

    def one(i: int, acc: bool):
        t = time.perf_counter()
        d = ds.get_data_info(order[i % len(order)])
        if acc:
            per['get_data_info'] += time.perf_counter() - t
        for n, tr in zip(names, transforms):
            t = time.perf_counter()
            d = tr(d)
            if acc:
                per[n] += time.perf_counter() - t
                if 'decode_reduction' in d:
                    r = str(d.pop('decode_reduction'))
                    reductions[r] = reductions.get(r, 0) + 1
        return d

    out = None
    for i in range(warm):
        out = one(i, False)
    if out is not None:
        w, h = cfg.codec['input_size']
        hw_w, hw_h = cfg.codec['heatmap_size']
        if tuple(out['inputs'].shape) != (3, h, w):
            raise RuntimeError(f'pipeline produced inputs {tuple(out["inputs"].shape)}')
        if tuple(out['data_samples'].gt_heatmaps.shape[-2:]) != (hw_h, hw_w):
            raise RuntimeError('pipeline produced heatmaps of the wrong size')
    ts, total = [], 0
    for _ in range(rounds):
        t = time.perf_counter()
        for i in range(per_round):
            one(total + i, True)
        ts.append((time.perf_counter() - t) / per_round)
        total += per_round
    ts.sort()
    med = ts[len(ts) // 2]
    items = [ds.get_data_info(i) for i in range(n_inst)]
    paths = sorted({it['img_path'] for it in items})
    sizes = [cv2.imread(p).shape[:2] for p in paths]
    ann_path = os.path.join(data_root, ann_file)
    return dict(
        bench='pose_topdown_train_pipeline' + ('_grouped' if grouped else
                                               '_reduced' if reduced_decode else ''),
        source=f'real COCO val2017 images ({os.path.relpath(ann_path, ROOT)})',
        reduced_decode=reduced_decode, decode_reductions=dict(sorted(reductions.items())),
        grouped=grouped, cache_last=grouped,
        samples_per_s=1 / med, ms_per_sample=1e3 * med, rounds=rounds,
        samples_per_round=per_round, cpus=len(os.sched_getaffinity(0)), n_instances=n_inst,
        n_images=len(paths),
        mean_img_wh=[float(np.mean([s[1] for s in sizes])), float(np.mean([s[0] for s in sizes]))],
        jpeg_kb_mean=float(np.mean([os.path.getsize(p) / 1024 for p in paths])),
        per_transform_ms={n: 1e3 * v / max(total, 1) for n, v in per.items()},
        pipeline=names, config=str(config),
        note='hrnet-train CocoKeypointDataset.get_data_info + train_pipeline transforms; '
             'cv2.setNumThreads(0), torch 1 thread, process pinned to 1 CPU (CLI)')


def _pipeline_child(args: argparse.Namespace) -> None:
    import cv2
    import torch
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(0)  # as default_runtime env_cfg opencv_num_threads=0
    torch.set_num_threads(1)
    rounds, per_round = (3, 40) if args.quick else (7, 100)
    for reduced, grouped in ((False, False), (True, False), (True, True)):
        rec = measure_pipeline(args.pipeline_config, data_root=args.data_root, rounds=rounds,
                               per_round=per_round, reduced_decode=reduced, grouped=grouped)
        print('JSON ' + json.dumps(rec), flush=True)


def run_pipeline_pinned(session: Session, args: argparse.Namespace) -> dict:
    """Run :func:`measure_pipeline` (the config's pipeline, with reduced decode, and with reduced
    decode in the image-grouped order) in a child process pinned to one CPU and emit its
    records; returns the last."""
    cmd = [sys.executable, os.path.abspath(__file__), '--pipeline-child',
           '--pipeline-config', str(args.pipeline_config), '--data-root', str(args.data_root)]
    cmd += ['--quick'] if args.quick else []
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    rec = None
    for line in p.stdout.splitlines():
        if line.startswith('JSON '):
            rec = session.emit(json.loads(line[5:]))
    if p.returncode or rec is None:
        print(p.stdout[-3000:], p.stderr[-3000:], file=sys.stderr)
        err = (p.stderr.strip().splitlines() or ['no output'])[-1]
        rec = session.emit(dict(bench='pose_topdown_train_pipeline', error=err))
    return rec


# ------------------------------------------------------------------------------------------------
# Data loader (--loader)
# ------------------------------------------------------------------------------------------------
def measure_loader(config: str | os.PathLike = PIPELINE_CONFIG, *,
                   data_root: str | os.PathLike = COCO_TINY, ann_file: str = COCO_TINY_ANN,
                   img_prefix: str = COCO_TINY_IMG, workers: Sequence[int] = (0, 1, 2),
                   batch_size: int = 32, batches: int = 20, warm_batches: int = 3,
                   reduced_decode: bool = False,
                   model_img_per_s: Optional[float] = None) -> list[dict]:
    """Samples/s of the config's ``train_dataloader`` per worker count (records
    ``pose_topdown_train_loader``).

    The config's ``train_dataloader`` (sampler, collate) with its dataset pointed at
    ``data_root`` and wrapped in a ``RepeatDataset`` long enough for ``warm_batches + batches``
    batches, built by the runner's ``build_dataloader`` (seed 0, ``persistent_workers=False``).
    The first ``warm_batches`` (worker start-up, prefetch) are not timed. Every batch is checked:
    ``batch_size`` inputs of (3, H, W) uint8 and heatmaps of the codec's (K, h, w).

    Args:
        workers: ``num_workers`` values, one record each.
        reduced_decode: set ``reduced_decode=True`` on the pipeline's LoadImage.
        model_img_per_s: the model's training img/s to compare with (e.g. the ``pose_w32_train``
            bs-32 figure); adds ``model_img_per_s`` and ``loader_over_model``.
    """
    import math

    import cv2
    import torch
    from mmengine.config import Config

    from hrnet_train.engine import Runner
    from hrnet_train.registry import DATASETS
    from hrnet_train.utils.setup_env import register_all_modules
    register_all_modules(init_default_scope=True)
    cv2.setNumThreads(0)  # as default_runtime env_cfg opencv_num_threads=0
    cfg = Config.fromfile(str(config))
    pipeline_cfg = [t.to_dict() if hasattr(t, 'to_dict') else dict(t)
                    for t in cfg.train_pipeline]
    if reduced_decode:
        pipeline_cfg = _with_reduced_decode(pipeline_cfg)
    w, h = cfg.codec['input_size']
    hm_w, hm_h = cfg.codec['heatmap_size']
    base = cfg.train_dataloader.to_dict()
    inner = dict(base['dataset'], data_root=str(data_root), ann_file=ann_file,
                 data_prefix=dict(img=img_prefix), pipeline=pipeline_cfg)
    inner.pop('bbox_file', None)
    n_inst = len(DATASETS.build(inner))
    total = batch_size * (warm_batches + batches)
    times = math.ceil(total / n_inst)
    grouped = (base.get('sampler') or {}).get('type') == 'ImageGroupedSampler'
    if grouped:
        # a RepeatDataset would put every repeat of an image into one group (one decode for
        # all of them): repeat the images as distinct files instead
        tmp = tempfile.mkdtemp(prefix='hrnet_loader_')
        dataset = dict(inner, **_distinct_repeats(os.path.join(str(data_root), ann_file),
                                                  os.path.join(str(data_root), img_prefix),
                                                  times, tmp))
        source = f'{n_inst} instances as {times} copies with distinct image files'
    else:
        dataset = dict(type='RepeatDataset', times=times, dataset=inner)
        source = f'({n_inst} instances) x {times}'
    out = []
    for nw in workers:
        loader_cfg = dict(base, batch_size=batch_size, num_workers=nw, persistent_workers=False,
                          dataset=dataset)
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        it = iter(loader)
        t0 = time.perf_counter()
        for i in range(warm_batches + batches):
            if i == warm_batches:
                t0 = time.perf_counter()
            batch = next(it)
            inputs, samples = batch['inputs'], batch['data_samples']
            if len(inputs) != batch_size or len(samples) != batch_size:
                raise RuntimeError(f'loader gave a batch of {len(inputs)}, expected {batch_size}')
            if any(tuple(x.shape) != (3, h, w) or x.dtype != torch.uint8 for x in inputs):
                raise RuntimeError(f'loader gave inputs {tuple(inputs[0].shape)}, expected '
                                   f'(3, {h}, {w}) uint8')
            hm = samples[0].gt_heatmaps.shape
            if tuple(hm[-2:]) != (hm_h, hm_w):
                raise RuntimeError(f'loader gave heatmaps {tuple(hm)}, expected (K, {hm_h}, '
                                   f'{hm_w})')
        dt = time.perf_counter() - t0
        del it, loader  # stops the workers
        rec = dict(bench='pose_topdown_train_loader', num_workers=nw, batch_size=batch_size,
                   batches=batches, warm_batches=warm_batches,
                   samples_per_s=batch_size * batches / dt, ms_per_batch=1e3 * dt / batches,
                   reduced_decode=_load_image_option(pipeline_cfg, 'reduced_decode'),
                   cache_last=_load_image_option(pipeline_cfg, 'cache_last'),
                   input_shape=[3, h, w],
                   heatmap_shape=list(hm), cpus_available=len(os.sched_getaffinity(0)),
                   dataset=f'{os.path.relpath(os.path.join(str(data_root), ann_file), ROOT)} '
                           f'{source}',
                   sampler=(base.get('sampler') or {}).get('type'), config=str(config))
        if model_img_per_s:
            rec.update(model_img_per_s=float(model_img_per_s),
                       loader_over_model=rec['samples_per_s'] / float(model_img_per_s))
        out.append(rec)
    if grouped:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _load_image_option(pipeline_cfg: list[dict], key: str) -> bool:
    """Whether the pipeline's LoadImage step sets ``key`` true."""
    return any(t.get('type') == 'LoadImage' and bool(t.get(key)) for t in pipeline_cfg)


def _distinct_repeats(ann_path: str, img_dir: str, times: int, out_dir: str) -> dict:
    """A COCO keypoint set of ``times`` copies of ``ann_path``, each copy's images symlinked
    under their own names in ``out_dir/img``; returns the dataset keys that point at it."""
    with open(ann_path) as f:
        coco = json.load(f)
    os.makedirs(os.path.join(out_dir, 'img'))
    images, annotations = [], []
    for k in range(times):
        ids = {}
        for im in coco['images']:
            name = f'r{k}_{im["file_name"]}'
            os.symlink(os.path.abspath(os.path.join(img_dir, im['file_name'])),
                       os.path.join(out_dir, 'img', name))
            ids[im['id']] = len(images) + 1
            images.append(dict(im, id=ids[im['id']], file_name=name))
        for a in coco['annotations']:
            annotations.append(dict(a, id=len(annotations) + 1, image_id=ids[a['image_id']]))
    with open(os.path.join(out_dir, 'ann.json'), 'w') as f:
        json.dump(dict(coco, images=images, annotations=annotations), f)
    return dict(data_root=out_dir, ann_file='ann.json', data_prefix=dict(img='img/'))


def format_loader_table(records: Sequence[dict]) -> str:
    """Markdown table of the ``--loader`` records."""
    lines = ['| num_workers | batch | samples/s | ms/batch | reduced decode | sampler | '
             'loader / model |', '|---|---|---|---|---|---|---|']
    for r in records:
        if r.get('bench') != 'pose_topdown_train_loader':
            continue
        ratio = f"{r['loader_over_model']:.2f}" if 'loader_over_model' in r else ''
        lines.append(f"| {r['num_workers']} | {r['batch_size']} | {r['samples_per_s']:.1f} | "
                     f"{r['ms_per_batch']:.1f} | {r['reduced_decode']} | {r.get('sampler')} | "
                     f"{ratio} |")
    return '\n'.join(lines)


def run_loader(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """The ``--loader`` run; returns (meta, records)."""
    import torch
    try:
        workers = [int(v) for v in args.workers.split(',') if v.strip()]
    except ValueError:
        raise ValueError(f'--workers must be comma-separated integers, got {args.workers!r}')
    if not workers or min(workers) < 0:
        raise ValueError(f'--workers must list counts >= 0, got {args.workers!r}')
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S'), python=platform.python_version(),
                torch=torch.__version__, cpus_available=len(os.sched_getaffinity(0)),
                argv=sys.argv[1:])
    if args.keep_freed_memory:
        from hrnet_train.utils.malloc import keep_freed_memory
        meta['keep_freed_memory'] = keep_freed_memory()
    print('META ' + json.dumps(meta), flush=True)
    t0 = time.time()
    session = Session(threads=args.threads, matmul_n=8)  # records only: no matmul reference
    for rec in measure_loader(args.pipeline_config, data_root=args.data_root, workers=workers,
                              batch_size=args.batch_size, batches=5 if args.quick else 20,
                              reduced_decode=args.reduced_decode,
                              model_img_per_s=args.loader_model_rate):
        session.emit(rec)
    meta['total_wall_s'] = round(time.time() - t0, 1)
    return meta, session.records


# ------------------------------------------------------------------------------------------------
# Detection box ops (--ops)
# ------------------------------------------------------------------------------------------------
def ops_timing(quick: bool) -> Timing:
    """Repetitions of every ``--ops`` figure."""
    return Timing(2, 5, 30, 3 if quick else 10)


def detector_rois(num_rois: int, image_hw: tuple[int, int], *, seed: int = 0,
                  finest_scale: int = 56, num_levels: int = 4) -> tuple['torch.Tensor', list]:
    """RoIs as a Faster R-CNN RoI head samples them, and the pyramid level of each.

    Box sizes ``sqrt(w h)`` are log-uniform in [16, 800] px with aspect ratios in [1/2, 2] and
    uniform centres, clipped to the image; the level is mmdet's ``map_roi_levels``,
    ``floor(log2(sqrt(w h) / finest_scale + 1e-6))`` clamped to [0, num_levels - 1].

    Returns:
        rois: (K, 5) float32 ``(0, x1, y1, x2, y2)`` image pixels (one image).
        per_level: ``num_levels`` int64 index tensors into ``rois``.
    """
    import math

    import torch
    g = torch.Generator().manual_seed(seed)
    h, w = image_hw
    scale = torch.exp(torch.rand(num_rois, generator=g) * math.log(800 / 16)) * 16
    ratio = torch.exp((torch.rand(num_rois, generator=g) * 2 - 1) * math.log(2))
    bw, bh = scale * ratio.sqrt(), scale / ratio.sqrt()
    cx, cy = torch.rand(num_rois, generator=g) * w, torch.rand(num_rois, generator=g) * h
    boxes = torch.stack([(cx - bw / 2).clamp(0, w), (cy - bh / 2).clamp(0, h),
                         (cx + bw / 2).clamp(0, w), (cy + bh / 2).clamp(0, h)], 1)
    size = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sqrt()
    level = torch.floor(torch.log2(size / finest_scale + 1e-6)).clamp(0, num_levels - 1).long()
    rois = torch.cat([torch.zeros(num_rois, 1), boxes], 1)
    return rois, [torch.where(level == i)[0] for i in range(num_levels)]


def _ops_record(session: Session, bench_name: str, backend: str, t: float, ts: list[float],
                probe0: float, **extra) -> dict:
    return session.emit(dict(bench=bench_name, backend=backend, ms_per_iter=1e3 * t,
                             runs=len(ts), min_ms=1e3 * ts[0], max_ms=1e3 * ts[-1], **extra,
                             maxrss_gb_so_far=maxrss_gb(),
                             matmul_probe_gflops_before_after=[probe0, session.probe()]))


def measure_ops(session: Session, *, backends: Optional[Sequence[str]] = None,
                image_hw: tuple[int, int] = (800, 1216), strides: Sequence[int] = (4, 8, 16, 32),
                num_rois: int = 512, channels: int = 256, output_size: int = 7,
                nms_sizes: Sequence[int] = (1000, 5000), nms_iou: float = 0.7,
                timing: Optional[Timing] = None) -> list[dict]:
    """Box-op figures per backend: ``ops_roi_align`` (mode ``fwd`` under no_grad, and
    ``fwd+bwd``: the per-level results written into one (K, C, 7, 7) tensor as mmdet's
    ``SingleRoIExtractor`` does, then backward of a random gradient) and ``ops_nms`` per box
    count (random boxes 16..300 px in the image, scores uniform, the RPN's IoU 0.7).

    Args:
        backends: default ``hrnet_train.ops.available_backends()``.
        timing: default :func:`ops_timing` (False).
    """
    import torch

    from hrnet_train.ops import available_backends, nms, roi_align
    backends = tuple(backends or available_backends())
    timing = timing or ops_timing(False)
    h, w = image_hw
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(1, channels, h // s, w // s, generator=g).requires_grad_(True)
             for s in strides]
    rois, per_level = detector_rois(num_rois, image_hw, num_levels=len(strides))
    grad = torch.randn(num_rois, channels, output_size, output_size, generator=g)
    shape = dict(num_rois=num_rois, channels=channels, output_size=output_size,
                 image_hw=list(image_hw), strides=list(strides),
                 rois_per_level=[int(i.numel()) for i in per_level],
                 sampling_ratio=0, aligned=True)
    out = []
    for backend in backends:
        def extract(backend=backend):
            res = feats[0].new_zeros(num_rois, channels, output_size, output_size)
            for feat, stride, inds in zip(feats, strides, per_level):
                if inds.numel():
                    res[inds] = roi_align(feat, rois[inds], output_size, 1 / stride, 0, True,
                                          backend=backend)
            return res

        def forward():
            with torch.no_grad():
                extract()

        def train_step():
            for f in feats:
                f.grad = None
            extract().backward(grad)

        for mode, fn in (('fwd', forward), ('fwd+bwd', train_step)):
            p0 = session.probe()
            t, ts = bench(fn, timing)
            out.append(_ops_record(session, 'ops_roi_align', backend, t, ts, p0, mode=mode,
                                   **shape))
    for n in nms_sizes:
        xy = torch.rand(n, 2, generator=g) * torch.tensor([w, h], dtype=torch.float32)
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 284 + 16], 1)
        scores = torch.rand(n, generator=g)
        for backend in backends:
            kept = int(nms(boxes, scores, nms_iou, backend=backend).numel())
            p0 = session.probe()
            t, ts = bench(lambda backend=backend: nms(boxes, scores, nms_iou, backend=backend),
                          timing)
            out.append(_ops_record(session, 'ops_nms', backend, t, ts, p0, num_boxes=n,
                                   iou_threshold=nms_iou, kept=kept))
    return out


def format_ops_table(records: Sequence[dict]) -> str:
    """Markdown table of the ``--ops`` records: ms/iter per backend, torch / torchvision."""
    rows: dict[str, dict[str, float]] = {}
    for r in records:
        if r.get('bench') == 'ops_roi_align':
            what = (f"roi_align {r['mode']}, {r['num_rois']} RoIs x {r['channels']} ch x "
                    f"{r['output_size']}x{r['output_size']}, {len(r['strides'])} levels")
        elif r.get('bench') == 'ops_nms':
            what = f"nms {r['num_boxes']} boxes, IoU {r['iou_threshold']}"
        else:
            continue
        rows.setdefault(what, {})[r['backend']] = r['ms_per_iter']
    lines = ['| op | torch ms/iter | torchvision ms/iter | torch / torchvision |',
             '|---|---|---|---|']
    for what, ms in rows.items():
        tv = ms.get('torchvision')
        ratio = f"{ms['torch'] / tv:.2f}" if tv and 'torch' in ms else ''
        lines.append(f"| {what} | {ms.get('torch', float('nan')):.1f} | "
                     f"{'' if tv is None else f'{tv:.1f}'} | {ratio} |")
    return '\n'.join(lines)


OPTIMIZER_KINDS = ('default', 'foreach', 'fused')


def measure_optimizer(session: Session, config: str | os.PathLike = POSE_CONFIG, *,
                      kinds: Sequence[str] = OPTIMIZER_KINDS,
                      timing: Optional[Timing] = None) -> list[dict]:
    """``optimizer.step()`` over the parameters of ``config``'s model, per torch implementation
    (``default``: neither ``fused`` nor ``foreach``, torch's per-tensor loop on CPU; ``foreach``;
    ``fused``, which the runner picks, :mod:`hrnet_train.engine.fused_optimizer`), for the
    config's optimizer and for the benchmark steps' SGD(momentum 0.9). Gradients are fixed random
    values; an implementation this torch cannot build is left out. Records ``ops_optimizer_step``.
    """
    import torch
    from mmengine.config import Config

    from hrnet_train.engine.fused_optimizer import FUSED_OPTIMIZERS
    timing = timing or ops_timing(False)
    model = build_model(config)
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    opt_cfg = dict(Config.fromfile(str(config)).optim_wrapper.optimizer)
    name = str(opt_cfg.pop('type')).split('.')[-1]
    setups = [(name, opt_cfg)]
    if name != 'SGD':
        setups.append(('SGD', dict(lr=1e-3, momentum=0.9)))
    shape = dict(config=Path(config).name, params_m=sum(p.numel() for p in params) / 1e6,
                 tensors=len(params))
    out = []
    for opt_name, kwargs in setups:
        if opt_name not in FUSED_OPTIMIZERS:
            continue
        for kind in kinds:
            extra = {} if kind == 'default' else {kind: True}
            try:
                opt = FUSED_OPTIMIZERS[opt_name](params, **kwargs, **extra)
            except (RuntimeError, ValueError, TypeError):
                continue  # no such kernel in this torch build
            p0 = session.probe()
            t, ts = bench(opt.step, timing)
            out.append(_ops_record(session, 'ops_optimizer_step', kind, t, ts, p0,
                                   optimizer=opt_name, kwargs=dict(kwargs), **shape))
            del opt
    return out


def format_optimizer_table(records: Sequence[dict]) -> str:
    """Markdown table of the ``ops_optimizer_step`` records: ms per step per implementation."""
    rows: dict[str, dict[str, float]] = {}
    for r in records:
        if r.get('bench') == 'ops_optimizer_step':
            what = f"{r['optimizer']} {r['kwargs']}, {r['params_m']:.1f} M params ({r['tensors']})"
            rows.setdefault(what, {})[r['backend']] = r['ms_per_iter']
    lines = ['| optimizer step | ' + ' | '.join(f'{k} ms' for k in OPTIMIZER_KINDS)
             + ' | default / fused |', '|---|' + '---|' * (len(OPTIMIZER_KINDS) + 1)]
    for what, ms in rows.items():
        cells = [f'{ms[k]:.1f}' if k in ms else '' for k in OPTIMIZER_KINDS]
        ratio = f"{ms['default'] / ms['fused']:.2f}" if {'default', 'fused'} <= set(ms) else ''
        lines.append(f"| {what} | {' | '.join(cells)} | {ratio} |")
    return '\n'.join(lines)


def run_ops(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """The ``--ops`` / ``--optim`` run: matmul reference, then :func:`measure_ops` or
    :func:`measure_optimizer`; returns (meta, records)."""
    import torch

    from hrnet_train.ops import _backend
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S'), python=platform.python_version(),
                torch=torch.__version__,
                cpu=next((ln.split(':', 1)[1].strip() for ln in open('/proc/cpuinfo')
                          if ln.startswith('model name')), '?'),
                cpus_available=len(os.sched_getaffinity(0)),
                backends=list(_backend.available_backends()),
                torchvision_unavailable=_backend.torchvision_unavailable_reason(),
                argv=sys.argv[1:])
    if args.keep_freed_memory:
        from hrnet_train.utils.malloc import keep_freed_memory
        meta['keep_freed_memory'] = keep_freed_memory()
    print('META ' + json.dumps(meta), flush=True)
    t0 = time.time()
    session = Session(threads=args.threads)
    session.measure_peak()
    if args.optim:
        measure_optimizer(session, args.pose_config, timing=ops_timing(args.quick))
    else:
        measure_ops(session, timing=ops_timing(args.quick))
    meta['total_wall_s'] = round(time.time() - t0, 1)
    return meta, session.records


# ------------------------------------------------------------------------------------------------
# Tables and the comparison with the peer
# ------------------------------------------------------------------------------------------------
def format_table(records: Sequence[dict]) -> str:
    """Markdown table of the records (the peer's columns)."""
    lines = ['| measurement | batch | img/s | s/iter | GMACs/img | achieved GFLOP/s | '
             '% of matmul peak |', '|---|---|---|---|---|---|---|']
    for r in records:
        if r['bench'].startswith('matmul_'):
            blocks = ', '.join(f'{g:.0f}' for g in r['block_median_gflops'])
            lines.append(f"| {r['bench']}, {r['threads']} threads (best of block medians "
                         f"{blocks}) | | | | | {r['gflops']:.1f} | 100 |")
        elif 'img_per_s' in r:
            extra = (f" ({r['achieved_gflops_at_readme_7_1']:.1f} at 7.1)"
                     if 'achieved_gflops_at_readme_7_1' in r else '')
            var = '' if r.get('precision', 'fp32') == 'fp32' else f", {r['precision']}"
            var += '' if r.get('memory_format', 'NCHW') == 'NCHW' else f", {r['memory_format']}"
            lines.append(f"| {r['model']} {r['mode']}{var} | {r['batch']} | {r['img_per_s']:.3g} | "
                         f"{r['median_s_per_iter']:.3f} | {r['gmacs_per_img']:.2f} | "
                         f"{r['achieved_gflops']:.1f}{extra} | {r['pct_of_matmul_peak']:.0f} |")
        elif r['bench'].endswith('_macs'):
            lines.append(f"| {r['model']} params {r['params_m']:.2f} M, counted conv/linear "
                         f"{r['gmacs_counted_conv_linear']:.2f} GMACs | | | | | | |")
        elif r['bench'].startswith('pose_topdown_train_pipeline'):
            what = 'top-down train pipeline' + _pipeline_variant(r)
            if 'error' in r:
                lines.append(f"| {what}: FAILED {r['error']} | | | | | | |")
            else:
                lines.append(f"| {what}, 1 core, {r['source'].split(' (')[0]} "
                             f"| 1 | {r['samples_per_s']:.1f} samples/s | "
                             f"{r['ms_per_sample'] / 1e3:.4f} | | | |")
    return '\n'.join(lines)


def _pipeline_variant(rec: dict) -> str:
    """How a pipeline record differs from the config's pipeline in index order ('' if not)."""
    return ((', image-grouped order + cache_last' if rec.get('grouped') else '')
            + (', reduced decode' if rec.get('reduced_decode') else ''))


_PIPELINE_FIGURE = 'pose train pipeline, 1 core'


def _figures(records: Sequence[dict]) -> dict[str, tuple[float, str]]:
    """Comparable figures keyed by name: (value, unit); higher is better for every one."""
    out: dict[str, tuple[float, str]] = {}
    for r in records:
        b = r.get('bench', '')
        if b.startswith('matmul_fp32'):
            out['fp32 matmul 2048^3'] = (r['gflops'], 'GFLOP/s')
        elif 'img_per_s' in r:
            out[f"{b} bs{r['batch']}"] = (r['img_per_s'], 'img/s')
        elif b.startswith('pose_topdown_train_pipeline') and 'samples_per_s' in r \
                and r.get('source', '').startswith('real'):
            out[_PIPELINE_FIGURE + _pipeline_variant(r)] = (r['samples_per_s'], 'samples/s')
    return out


def compare(ours: Sequence[dict], peer: Sequence[dict]) -> list[dict]:
    """One row per figure present in both runs: ours, peer and ours / peer (> 1: we are faster).
    Our pipeline variants (reduced decode, image-grouped order) are each set against the peer's
    one pipeline figure.

    The matmul row is a machine check: far from 1 means the machine changed between the runs."""
    a, b = _figures(ours), _figures(peer)
    rows = []
    for k, (value, unit) in a.items():
        peer_key = _PIPELINE_FIGURE if k.startswith(_PIPELINE_FIGURE) else k
        if peer_key in b and b[peer_key][0] > 0:
            rows.append(dict(figure=k, unit=unit, ours=value, peer=b[peer_key][0],
                             ratio=value / b[peer_key][0]))
    return rows


def format_comparison(rows: Sequence[dict]) -> str:
    lines = ['| figure | unit | hrnet-train | peer | ours / peer |', '|---|---|---|---|---|']
    lines += [f"| {r['figure']} | {r['unit']} | {r['ours']:.3g} | {r['peer']:.3g} | "
              f"{r['ratio']:.2f} |" for r in rows]
    return '\n'.join(lines)


def _load_results(path: str) -> list[dict]:
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict) or 'results' not in data:
        raise ValueError(f'{path}: expected the JSON written by --out (keys meta, results)')
    return data['results']


# ------------------------------------------------------------------------------------------------
def _cli_backbone(args: argparse.Namespace) -> dict:
    """The :data:`BACKBONE_SWITCHES` the command line sets."""
    return dict(fast_fusion=not args.plain_fusion, with_cp=args.with_cp,
                recompute_bn_relu=False if args.plain_bn_relu else 'cpu',
                gemm_weight_grad=args.gemm_weight_grad)


def run(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Every figure the CLI measures, in the peer's order; returns (meta, records)."""
    import cv2
    import mmengine
    import numpy
    import torch
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S'), python=platform.python_version(),
                torch=torch.__version__, mmengine=mmengine.__version__, numpy=numpy.__version__,
                opencv=cv2.__version__,
                cpu=next((ln.split(':', 1)[1].strip() for ln in open('/proc/cpuinfo')
                          if ln.startswith('model name')), '?'),
                cpus_available=len(os.sched_getaffinity(0)),
                mem_gb=os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30,
                torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
                # glibc malloc tuning / a preloaded allocator change the large-tensor figures
                # (docs/benchmark.md): record them with the run
                allocator_env={k: v for k, v in os.environ.items()
                               if k.startswith('MALLOC_') or k == 'LD_PRELOAD'},
                argv=sys.argv[1:])
    if args.keep_freed_memory:
        from hrnet_train.utils.malloc import keep_freed_memory
        meta['keep_freed_memory'] = keep_freed_memory()
    print('META ' + json.dumps(meta), flush=True)
    t0 = time.time()
    session = Session(threads=args.threads)
    session.measure_peak()
    timings = peer_timings(args.quick)
    kw = dict(timings=timings, amp=args.amp, channels_last=args.channels_last,
              fuse_bn=args.fuse_bn, compile=args.compile, backbone=_cli_backbone(args))
    measure_pose(session, args.pose_config, train_batches=(8,) if args.quick else (8, 32), **kw)
    if not args.skip_seg:
        for name, config in SEG_CONFIGS:
            width = name.split('_w')[1]
            measure_seg(session, config, name=name, label=f'hrnet-train HRNetV2-W{width}', **kw)
    if args.det:
        measure_det(session, timings=timings, channels_last=args.channels_last,
                    backbone=kw['backbone'])
    if not args.skip_pipeline:
        run_pipeline_pinned(session, args)
    meta['total_wall_s'] = round(time.time() - t0, 1)
    return meta, session.records


def run_ab(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """``--ab-peer``: the pose figures, then (unless ``--skip-seg``) the seg W18 / W48 ones, as
    interleaved A/B pairs against the peer's models in this process (the matmul reference
    first); returns (meta, records)."""
    import torch
    _load_peer_bench(args.ab_peer, args.peer_site)  # a missing file fails before the figures
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S'), torch=torch.__version__,
                argv=sys.argv[1:], ab_peer=str(args.ab_peer))
    if args.keep_freed_memory:
        from hrnet_train.utils.malloc import keep_freed_memory
        meta['keep_freed_memory'] = keep_freed_memory()
    print('META ' + json.dumps(meta), flush=True)
    session = Session(threads=args.threads)
    session.measure_peak()
    if not args.skip_pose:
        measure_ab_pose(session, load_peer_pose(args.ab_peer, args.peer_site),
                        args.pose_config, pairs=args.ab_pairs,
                        train_batches=(8,) if args.quick else (8, 32),
                        channels_last=args.channels_last, fuse_bn=args.fuse_bn,
                        compile=args.compile, backbone=_cli_backbone(args))
    if not args.skip_seg:
        for name, config in SEG_CONFIGS:
            peer_seg, peer_samples = load_peer_seg(args.ab_peer, int(name.split('_w')[1]),
                                                   args.peer_site)
            infer_pairs, train_pairs = args.ab_seg_pairs or (5, 2 if args.quick else 3)
            measure_ab_seg(session, peer_seg, peer_samples, config, name=f'ab_{name}',
                           infer_pairs=infer_pairs, train_pairs=train_pairs,
                           channels_last=args.channels_last, fuse_bn=args.fuse_bn,
                           backbone=_cli_backbone(args))
            del peer_seg
    return meta, session.records


def format_ab_table(records: Sequence[dict]) -> str:
    rows = ['| figure | batch | pairs | peer img/s | ours img/s | ours / peer, median (min-max) |',
            '|---|---|---|---|---|---|']
    for r in records:
        if 'ratio_median' in r:
            rows.append(f"| {r['bench']} | {r['batch']} | {r['pairs']} | "
                        f"{r['peer_img_per_s']:.3g} | {r['ours_img_per_s']:.3g} | "
                        f"**{r['ratio_median']:.2f}** "
                        f"({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |")
    return '\n'.join(rows)


# ------------------------------------------------------------------------------------------------
# --switches: which speed switches pay off on this machine
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Switch:
    """One speed switch as ``--switches`` measures it against the defaults: ``mode`` 'infer'
    or 'train'; ``turn_on`` the config line / flag that turns it on; the variant's settings
    (:func:`_switch_model`); ``compile`` switches only with ``--compile`` (minutes of graph
    building each)."""
    name: str
    mode: str
    turn_on: str
    channels_last: bool = False
    fuse_bn: FuseBN = False
    compile: bool = False
    backbone: Optional[dict] = None
    fused_optimizer: bool = True


#: The switches ``--switches`` measures, each against the defaults (NCHW, BatchNorm kept, eager,
#: the backbone's default switches, the runner's fused SGD).
SWITCHES = (
    Switch('channels_last', 'infer', '`channels_last = True` / `--channels-last`',
           channels_last=True),
    Switch('fuse_bn', 'infer', '`fuse_bn = True` / `tools/test.py --fuse-bn`', fuse_bn=True),
    Switch('fuse_bn + channels_last', 'infer', '`fuse_bn = True`, `channels_last = True`',
           channels_last=True, fuse_bn=True),
    Switch('onednn', 'infer', "`fuse_bn = 'onednn'` / `tools/test.py --onednn`",
           channels_last=True, fuse_bn='onednn'),
    Switch('compile + channels_last', 'infer', '`compile = True`, `channels_last = True`',
           channels_last=True, compile=True),
    Switch('channels_last', 'train', '`channels_last = True` / `--channels-last`',
           channels_last=True),
    Switch('channels_last + GEMM weight gradients', 'train',
           '`channels_last = True`, `gemm_weight_grad = True` / `--channels-last '
           '--gemm-weight-grad`', channels_last=True, backbone=dict(gemm_weight_grad=True)),
    Switch('plain BN-ReLU (more memory)', 'train', '`model.backbone.recompute_bn_relu = False`',
           backbone=dict(recompute_bn_relu=False)),
    Switch('no fused optimizer', 'train', '`fused_optimizer = False`', fused_optimizer=False),
    Switch('compile + channels_last', 'train', '`compile = True`, `channels_last = True`',
           channels_last=True, compile=True),
)

#: A switch is called faster / slower here when the median pair ratio is beyond this margin
#: and the pairs agree on the side (min above 1 / max below 1).
SWITCH_MARGIN = 0.05


def switch_verdict(ratio_median: float, ratio_min: float, ratio_max: float) -> str:
    """'faster', 'slower' or 'no clear difference' from the pair ratios (> 1: the switch is
    faster); see :data:`SWITCH_MARGIN`."""
    if ratio_median >= 1 + SWITCH_MARGIN and ratio_min > 1:
        return 'faster'
    if ratio_median <= 1 - SWITCH_MARGIN and ratio_max < 1:
        return 'slower'
    return 'no clear difference'


def _switch_task(config: str | os.PathLike) -> str:
    """'pose' or 'seg' from the class ``config``'s model type names (nothing built)."""
    from mmengine.config import Config

    from hrnet_train.models.detectors import EncoderDecoder, TopdownPoseEstimator
    from hrnet_train.registry import MODELS
    from hrnet_train.utils.setup_env import register_all_modules
    register_all_modules(init_default_scope=False)
    model_type = (Config.fromfile(str(config)).get('model') or {}).get('type')
    if model_type is None:
        raise ValueError(f'--switches: {config} has no model.type')
    cls = MODELS.get(model_type) if isinstance(model_type, str) else model_type
    if isinstance(cls, type) and issubclass(cls, TopdownPoseEstimator):
        return 'pose'
    if isinstance(cls, type) and issubclass(cls, EncoderDecoder):
        return 'seg'
    name = cls.__name__ if isinstance(cls, type) else model_type
    raise ValueError(f'--switches measures top-down pose and segmentation configs; {config} '
                     f'builds {name}')


def _switch_model(config, task: str, switch: Optional[Switch], hw: Sequence[int], batch: int,
                  mode: str):
    """The model of ``config`` (``task`` from :func:`_switch_task`) with ``switch``'s settings
    (None: the defaults), built with seed 0 (every variant starts from the same weights), and
    its call for ``mode``: inference (eval, no grad; seg: ``inference``, logits at the input
    size) or one training step as the figures define it (:func:`_train_step`; the runner's
    fused SGD, or torch's default with ``fused_optimizer=False``)."""
    import torch
    s = switch or Switch('default', mode, '')
    torch.manual_seed(0)
    model = build_model(config, backbone=s.backbone)
    x = torch.randn(batch, 3, *hw, generator=torch.Generator().manual_seed(1))
    if mode == 'infer':
        net = _inference_model(model, fuse_bn=s.fuse_bn, compile=s.compile)
        x = _prepare(net, x, s.channels_last)
        forward = net.inference if task == 'seg' else net

        def infer():
            with torch.no_grad():
                return forward(x)
        return infer
    model.train()
    if s.compile:
        from hrnet_train.models.utils import compile_network
        compile_network(model, dynamic=False)
    x = _prepare(model, x, s.channels_last)
    return _train_step(task, model, x, None, fused_optimizer=s.fused_optimizer)


def measure_switches(session: Session, config: str | os.PathLike = POSE_CONFIG, *,
                     switches: Sequence[Switch] = SWITCHES, infer_batch: Optional[int] = None,
                     train_batch: Optional[int] = None, input_hw: Optional[Sequence[int]] = None,
                     pairs: int = 6, compile: bool = False) -> list[dict]:
    """Each speed switch against the defaults on this machine, as an interleaved A/B in one
    process (:func:`interleaved_ab`): both from the same weights and input, the pair ratios
    default time / switch time (> 1: the switch is faster) and the verdict
    (:func:`switch_verdict`); inference records also carry the outputs' largest difference
    relative to the default's largest magnitude (what the switch changes in the numbers).
    Pose configs at their input size, batch 8 / 8; seg configs at 512x1024, batch 1 / 2. The
    ``compile`` switches only with ``compile=True``. Records ``switch_<task>_<mode>``."""
    import torch
    out = []
    task = _switch_task(config)
    hw = tuple(input_hw or (_config_input_hw(config) if task == 'pose' else SEG_INPUT_HW))
    for mode in ('infer', 'train'):
        chosen = [s for s in switches if s.mode == mode and (compile or not s.compile)]
        if not chosen:
            continue
        batch = (infer_batch if mode == 'infer' else train_batch) or (
            8 if task == 'pose' else 1 if mode == 'infer' else 2)
        default = _switch_model(config, task, None, hw, batch, mode)
        ref = default() if mode == 'infer' else None
        for s in chosen:
            call = _switch_model(config, task, s, hw, batch, mode)
            rec = dict(bench=f'switch_{task}_{mode}', switch=s.name, turn_on=s.turn_on,
                       mode=mode, batch=batch, input_hw=list(hw), pairs=pairs,
                       config=Path(config).name)
            if mode == 'infer':
                y = call()
                rec['max_rel_diff'] = float((y.float() - ref.float()).abs().max()
                                            / ref.float().abs().max().clamp_min(1e-30))
            ab = interleaved_ab(default, call, pairs=pairs, warm=1 if mode == 'train' else 2)
            rec.update(default_img_per_s=batch / ab['a_median_s'],
                       switch_img_per_s=batch / ab['b_median_s'],
                       ratio_median=ab['ratio_median'], ratio_min=ab['ratio_min'],
                       ratio_max=ab['ratio_max'],
                       verdict=switch_verdict(ab['ratio_median'], ab['ratio_min'],
                                              ab['ratio_max']),
                       default_s=[round(t, 5) for t in ab['a_s']],
                       switch_s=[round(t, 5) for t in ab['b_s']])
            out.append(session.emit(rec))
            del call
            torch.manual_seed(0)
    return out


def format_switch_table(records: Sequence[dict]) -> str:
    """Markdown table of the ``switch_*`` records."""
    rows = ['| switch | figure | default img/s | with it img/s | speed-up (default time / time '
            'with it), median (min-max) | outputs vs default | here | turn on |',
            '|---|---|---|---|---|---|---|---|']
    for r in records:
        if str(r.get('bench', '')).startswith('switch_'):
            diff = f"{r['max_rel_diff']:.1e}" if 'max_rel_diff' in r else ''
            rows.append(f"| {r['switch']} | {r['mode']} bs {r['batch']} | "
                        f"{r['default_img_per_s']:.3g} | {r['switch_img_per_s']:.3g} | "
                        f"**{r['ratio_median']:.2f}** ({r['ratio_min']:.2f}-"
                        f"{r['ratio_max']:.2f}) | {diff} | {r['verdict']} | {r['turn_on']} |")
    return '\n'.join(rows)


def run_switches(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """``--switches CONFIG``: the matmul reference, then :func:`measure_switches`."""
    import torch
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S'), torch=torch.__version__,
                cpu_capability=torch.backends.cpu.get_cpu_capability(), argv=sys.argv[1:])
    if args.keep_freed_memory:
        from hrnet_train.utils.malloc import keep_freed_memory
        meta['keep_freed_memory'] = keep_freed_memory()
    print('META ' + json.dumps(meta), flush=True)
    _switch_task(args.switches)  # a config of another task fails before the timing
    session = Session(threads=args.threads)
    session.measure_peak()
    measure_switches(session, args.switches, pairs=args.switch_pairs, compile=args.compile)
    return meta, session.records


def _task_overrides(text: str, parse: Callable[[str], object], form: str) -> dict:
    """``'pose=<v>,seg=<v>'`` -> ``{'pose': parse(v), ...}`` for the tasks pose/seg/det;
    ``parse`` returns None for a bad value, and any bad item is an argparse error quoting
    ``form``."""
    out = {}
    for item in filter(None, text.split(',')):
        key, _, value = item.partition('=')
        parsed = parse(value) if key in ('pose', 'seg', 'det') else None
        if parsed is None:
            raise argparse.ArgumentTypeError(f"expected {form}, got '{item}'")
        out[key] = parsed
    return out


def _batch_overrides(text: str) -> dict[str, int]:
    """``'pose=64,seg=4'`` -> ``{'pose': 64, 'seg': 4}`` (argparse type of --device-batch)."""
    return _task_overrides(text, lambda v: int(v) if v.isdigit() and int(v) >= 1 else None,
                           'pose=N,seg=N,det=N with N >= 1')


def _hw_overrides(text: str) -> dict[str, tuple[int, int]]:
    """``'pose=64x48'`` -> ``{'pose': (64, 48)}``, (H, W) (argparse type of --device-hw)."""
    def parse(v):
        m = re.fullmatch(r'(\d+)x(\d+)', v)
        return (int(m[1]), int(m[2])) if m and int(m[1]) >= 32 and int(m[2]) >= 32 else None
    return _task_overrides(text, parse, 'pose=HxW,seg=HxW,det=HxW with H, W >= 32')


def _pair_counts(text: str) -> tuple[int, int]:
    """``'5,8'`` -> ``(5, 8)`` (argparse type of --ab-seg-pairs: inference, training)."""
    m = re.fullmatch(r'(\d+),(\d+)', text)
    if not m or min(int(m[1]), int(m[2])) < 1:
        raise argparse.ArgumentTypeError(f"expected INFER,TRAIN pair counts >= 1, got '{text}'")
    return int(m[1]), int(m[2])


def _pair_count(text: str) -> int:
    """``'6'`` -> 6 (argparse type of --switch-pairs: at least 1)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a pair count >= 1, got '{text}'")
    return int(text)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from hrnet_train.engine.launch import ToolArgumentParser
    ap = ToolArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--quick', action='store_true', help='fewer repetitions, no pose bs32 training')
    ap.add_argument('--skip-seg', action='store_true')
    ap.add_argument('--skip-pipeline', action='store_true')
    ap.add_argument('--channels-last', action='store_true', help='NHWC models and inputs')
    ap.add_argument('--fuse-bn', action='store_true',
                    help='inference figures with BatchNorm folded into the convolutions')
    ap.add_argument('--onednn', action='store_true',
                    help='inference figures with BatchNorm folded and oneDNN\'s prepacked '
                    'convolutions with their ReLU / residual add fused (fuse_onednn; CPU)')
    ap.add_argument('--compile', action='store_true',
                    help='torch.compile the network (inference: with inductor freezing)')
    ap.add_argument('--plain-fusion', action='store_true',
                    help='the backbone with fast_fusion=False (out-of-place sums), to measure it')
    ap.add_argument('--det', action='store_true',
                    help='also HRNetV2p-W32 Faster R-CNN 800x1344 inference and training '
                    '(no peer; about 5 min on 2 cores)')
    ap.add_argument('--keep-freed-memory', action='store_true',
                    help='glibc malloc keeps freed blocks (hrnet_train.utils.malloc), as the '
                    'runner with keep_freed_memory=True')
    ap.add_argument('--with-cp', nargs='?', const=True, default=False, choices=['stage1'],
                    help="activation checkpointing in the backbone (training memory): every "
                    "residual block, or with 'stage1' the stem and stage 1 as one segment")
    ap.add_argument('--gemm-weight-grad', action='store_true',
                    help='training figures with the stride-1 convolutions\' weight gradients as '
                    'GEMMs (with --channels-last; use_gemm_weight_grad)')
    ap.add_argument('--plain-bn-relu', action='store_true',
                    help='the backbone (and a SegHead) with recompute_bn_relu=False: the inner '
                    'ReLU outputs saved for backward instead of recomputed (the default)')
    ap.add_argument('--amp', choices=['bf16'], default=None,
                    help='run the model figures under torch.autocast(cpu, bfloat16)')
    ap.add_argument('--out', default='benchmark_cpu.json')
    ap.add_argument('--peer', metavar='PEER_JSON', default=None,
                    help="the peer's --out file: print ours/peer ratios after the run")
    ap.add_argument('--compare', nargs=2, metavar=('OURS_JSON', 'PEER_JSON'), default=None,
                    help='measure nothing; print the ratio table of two --out files')
    ap.add_argument('--pose-config', default=str(POSE_CONFIG))
    ap.add_argument('--pipeline-config', default=str(PIPELINE_CONFIG))
    ap.add_argument('--data-root', default=str(COCO_TINY))
    ap.add_argument('--ops', action='store_true',
                    help='measure only the detection box ops (roi_align, nms) per backend')
    ap.add_argument('--optim', action='store_true',
                    help="measure only optimizer.step() over --pose-config's model: the config's "
                    'optimizer and SGD, default / foreach / fused')
    ap.add_argument('--loader', action='store_true',
                    help='measure only the train data loader, samples/s per --workers count')
    ap.add_argument('--workers', default='0,1,2', help='--loader: num_workers values, e.g. 0,1,2')
    ap.add_argument('--batch-size', type=int, default=32, help='--loader: batch size')
    ap.add_argument('--reduced-decode', action='store_true',
                    help='--loader: LoadImage(reduced_decode=True) in the pipeline')
    ap.add_argument('--loader-model-rate', type=float, default=None, metavar='IMG_PER_S',
                    help="--loader: the model's training img/s, to print loader / model")
    ap.add_argument('--switches', metavar='CONFIG', default=None,
                    help='only each speed switch against the defaults on this machine, for a '
                    'pose or seg config (interleaved A/B; --compile adds the compiled ones)')
    ap.add_argument('--switch-pairs', type=_pair_count, default=6,
                    help='--switches: pairs per switch')
    ap.add_argument('--ab-peer', metavar='PEER_BENCH_DIR', default=None,
                    help="only the pose and seg figures, as interleaved A/B pairs against the "
                    "peer's models built in this process by PEER_BENCH_DIR/peer_bench.py")
    ap.add_argument('--peer-site', metavar='SITE_PACKAGES', default=None,
                    help="--ab-peer: the peer venv's site-packages (appended to sys.path for "
                    'mmpose)')
    ap.add_argument('--ab-pairs', type=int, default=10, help='--ab-peer: pairs per pose figure')
    ap.add_argument('--ab-seg-pairs', type=_pair_counts, default=None, metavar='INFER,TRAIN',
                    help='--ab-peer: pairs per seg inference and training figure (default 5,3; '
                    '5,2 with --quick)')
    ap.add_argument('--skip-pose', action='store_true', help='--ab-peer, --device: no pose figures')
    ap.add_argument('--device', default=None,
                    help="only the training throughput on this device ('cuda', or 'cpu' to try "
                    'it): pose W32 bs 128, seg W48 bs 8, det W32 bs 4, fp32 / bf16 + '
                    'channels_last (/ + compile), with the peak memory')
    ap.add_argument('--device-batch', type=_batch_overrides, default={},
                    metavar='pose=N,seg=N,det=N', help='--device: other batch sizes')
    ap.add_argument('--device-hw', type=_hw_overrides, default={},
                    metavar='pose=HxW,seg=HxW,det=HxW',
                    help='--device: other input sizes (e.g. a small one to try the script)')
    ap.add_argument('--skip-det', action='store_true', help='--device: no detection figure')
    ap.add_argument('--no-compile', action='store_true',
                    help='--device: leave out the compiled variant')
    ap.add_argument('--pipeline-child', action='store_true', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.onednn:
        if args.compile:
            ap.error('--onednn and --compile are two ways to the same kernels: choose one')
        if not args.channels_last:
            ap.error('--onednn runs its fused kernels for NHWC inputs only: add '
                     '--channels-last')
        args.fuse_bn = 'onednn'
    for option, path in (('--switches', args.switches), ('--pose-config', args.pose_config)):
        if path is not None and not Path(path).is_file():
            ap.error(f'{option}: no config file {path}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.pipeline_child:
        _pipeline_child(args)
        return 0
    if args.compare:
        print(format_comparison(compare(_load_results(args.compare[0]),
                                        _load_results(args.compare[1]))))
        return 0
    if args.device:
        meta, records = run_device(args)
        table = format_device_table(records)
    elif args.loader:
        meta, records = run_loader(args)
        table = format_loader_table(records)
    elif args.ab_peer:
        meta, records = run_ab(args)
        table = format_ab_table(records)
    elif args.switches:
        meta, records = run_switches(args)
        table = format_switch_table(records)
    else:
        meta, records = run_ops(args) if args.ops or args.optim else run(args)
        table = (format_ops_table(records) if args.ops else
                 format_optimizer_table(records) if args.optim else format_table(records))
    print(table)
    result = dict(meta=meta, results=records, table_md=table)
    if args.peer:
        rows = compare(records, _load_results(args.peer))
        result['comparison'] = rows
        print(format_comparison(rows))
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    print('wrote', args.out)
    return 0


if __name__ == '__main__':
    from hrnet_train.engine.launch import run_tool
    sys.exit(run_tool(main))
