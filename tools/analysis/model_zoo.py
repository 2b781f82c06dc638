"""Write the model zoo table: params, GFLOPs, the official accuracy and CPU latency per config.

    python tools/analysis/model_zoo.py [--out work_dirs/model_zoo.md] [--configs CONFIG ...]
        [--speed] [--threads N] [--speed-budget SECONDS]

The page in the repository is ``python tools/analysis/model_zoo.py --speed --threads 2 --out
docs/model_zoo.md`` (17 minutes on a 2-core EPYC); the default ``--out`` leaves it alone.

For every config under ``configs/{pose,seg,det,cls}/`` (``_base_`` skipped; the quickstarts in a
table of their own), or only ``--configs``:

- **params / GFLOPs**: ``hrnet_train.utils.complexity.config_complexity`` (as
  ``tools/analysis/get_flops.py``): the model built from ``cfg.model`` on the meta device, one
  ``mode='tensor'`` forward at batch 1 (no test-time augmentation, no data preprocessing); params
  are every parameter, GFLOPs are conv + linear multiply-adds / 1024**3, the official HRNet
  convention (REFERENCE §4).
- **input**: the config's test input size, see :func:`test_input_hw` (the table says which rule).
- **official metric**: copied, with its source, from :data:`OFFICIAL` below (the same numbers as
  docs/pose.md, docs/segmentation.md, docs/detection.md, docs/classification.md and the shared
  REFERENCE §4); empty where no official number exists.
- **CPU ms/img** (``--speed`` only): the median latency of one ``mode='tensor'`` forward at batch
  1 under ``torch.no_grad``, measured with ``tools/analysis/benchmark.py``'s ``build_model``
  (backbone ``init_cfg=None``, SyncBN -> BN, PyTorch's default initialisation) and ``bench``
  (warm-up, then the median of timed runs within ``--speed-budget`` seconds). The CPU model
  (/proc/cpuinfo), the thread count and the torch version are written above the table.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import os.path as osp
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from hrnet_train.config import load_config, validate_config
from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.complexity import config_complexity
from hrnet_train.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TASK_DIRS = (('pose', 'pose'), ('seg', 'segmentation'), ('det', 'detection'),
             ('cls', 'classification'))

# ------------------------------------------------------------------------------------------------
# Official numbers: (value, what it is, source key). Copied from the docs named in SOURCES; a
# config that is not listed has no official number (its cell stays empty).
# ------------------------------------------------------------------------------------------------
SOURCES = {
    'hrnet-pose': 'leoxiaobin/deep-high-resolution-net.pytorch README.md (COCO val2017 with the '
                  'AP-56.4 detector boxes and flip test; "Results on MPII val"; test-dev with '
                  'extra data); docs/pose.md',
    'mmpose-crowdpose': 'open-mmlab/mmpose configs/body_2d_keypoint/topdown_heatmap/crowdpose/'
                        'hrnet_crowdpose.md (CrowdPose test, YOLOv3 boxes); docs/pose.md',
    'mmpose-ochuman': 'open-mmlab/mmpose configs/legacy/body/2d_kpt_sview_rgb_img/'
                      'topdown_heatmap/ochuman/hrnet_ochuman.md (OCHuman test, GT boxes); '
                      'docs/pose.md',
    'hrnet-seg': 'HRNet/HRNet-Semantic-Segmentation README.md, master branch; '
                 'docs/segmentation.md',
    'hrnet-seg-ocr': 'HRNet/HRNet-Semantic-Segmentation README.md, HRNet-OCR branch; '
                     'docs/segmentation.md',
    'mmseg': 'open-mmlab/mmsegmentation configs/hrnet/README.md; docs/segmentation.md',
    'mmdet': 'open-mmlab/mmdetection configs/hrnet/README.md; docs/detection.md',
    'hrnet-det': 'HRNet/HRNet-Object-Detection README.md (the official fork); docs/detection.md',
    'hrnet-cls': 'HRNet/HRNet-Image-Classification README.md (ImageNet val, one 224 crop); '
                 'docs/classification.md',
}


@dataclass(frozen=True)
class Official:
    value: str  # as printed by the source
    metric: str
    source: str  # a key of SOURCES


def _coco_ap(v):
    return (Official(v, 'COCO val2017 AP', 'hrnet-pose'),)


def _city(v, src='hrnet-seg', setting='Cityscapes val mIoU'):
    return (Official(v, setting, src),)


def _det(mmdet: Optional[str], fork: Optional[str]):
    out = []
    if mmdet is not None:
        out.append(Official(mmdet, 'COCO val2017 box AP (mmdet)', 'mmdet'))
    if fork is not None:
        out.append(Official(fork, 'box AP (official fork)', 'hrnet-det'))
    return tuple(out)


def _top1_err(v, setting='ImageNet val top-1 error'):
    return (Official(v, setting, 'hrnet-cls'),)


OFFICIAL: dict[str, tuple[Official, ...]] = {
    # pose: docs/pose.md tables; REFERENCE §4 "Pose, COCO val2017" and "Other pose results"
    'pose/hrnet-w32_coco-256x192.py': _coco_ap('74.4'),
    'pose/hrnet-w32_coco-384x288.py': _coco_ap('75.8'),
    'pose/hrnet-w48_coco-256x192.py': _coco_ap('75.1'),
    'pose/hrnet-w48_coco-384x288.py': _coco_ap('76.3'),
    'pose/hrnet-w48_coco-aic-384x288.py': (
        Official('77.0', 'COCO test-dev AP (W48 384x288 with AI Challenger data)', 'hrnet-pose'),),
    'pose/hrnet-w32_mpii-256x256.py': (Official('90.3', 'MPII val PCKh@0.5 Mean', 'hrnet-pose'),),
    'pose/hrnet-w32_crowdpose-256x192.py': (
        Official('0.675', 'CrowdPose test AP (mmpose)', 'mmpose-crowdpose'),),
    'pose/hrnet-w32_ochuman-256x192.py': (
        Official('0.591', 'OCHuman test AP (mmpose)', 'mmpose-ochuman'),),
    # segmentation: docs/segmentation.md; REFERENCE §4 "Segmentation, Cityscapes val"
    'seg/hrnetv2-w48_cityscapes-512x1024.py': _city('80.9'),
    'seg/hrnetv2-w48-ohem_cityscapes-512x1024.py': _city('81.2'),
    'seg/hrnetv2-w18-small-v1_cityscapes-512x1024.py': _city('70.3'),
    'seg/hrnetv2-w18-small-v2_cityscapes-512x1024.py': _city('76.2'),
    'seg/hrnetv2-w48_lip-473x473.py': _city('56.04', setting='LIP val mIoU (flip)'),
    'seg/hrnetv2-w48_pascal-context-59-520x520.py': _city(
        '54.1', setting='PASCAL-Context 59 val mIoU (MS + flip)'),
    'seg/hrnetv2-w48_pascal-context-60-520x520.py': _city(
        '48.3', setting='PASCAL-Context 60 val mIoU (MS + flip)'),
    'seg/hrnetv2-w48_ade20k-512x512.py': _city(
        '42.02', src='mmseg', setting='ADE20K val mIoU (mmseg FCN, 160k)'),
    'seg/hrnetv2-w48-ocr_cityscapes-512x1024.py': _city('81.6', src='hrnet-seg-ocr'),
    'seg/hrnetv2-w48-ocr_lip-473x473.py': _city('56.48', src='hrnet-seg-ocr',
                                                setting='LIP val mIoU (flip)'),
    'seg/hrnetv2-w48-ocr_pascal-context-59-520x520.py': _city(
        '56.2', src='hrnet-seg-ocr', setting='PASCAL-Context 59 val mIoU (MS + flip)'),
    # detection: docs/detection.md table; REFERENCE §3.8 model zoo
    'det/faster-rcnn_hrnetv2p-w18_1x_coco.py': _det('36.9', '36.1'),
    'det/faster-rcnn_hrnetv2p-w18_2x_coco.py': _det('38.9', '38.1'),
    'det/faster-rcnn_hrnetv2p-w32_1x_coco.py': _det('40.2', '39.5'),
    'det/faster-rcnn_hrnetv2p-w32_2x_coco.py': _det('41.4', '40.8'),
    'det/faster-rcnn_hrnetv2p-w40_1x_coco.py': _det('41.2', '40.4'),
    'det/faster-rcnn_hrnetv2p-w40_2x_coco.py': _det('42.1', '41.4'),
    'det/faster-rcnn_hrnetv2p-w48_1x_coco.py': _det(None, '40.9'),
    'det/faster-rcnn_hrnetv2p-w48_2x_coco.py': _det(None, '41.5'),
    'det/faster-rcnn_hrnetv2p-w18_1x_coco_fork.py': _det(None, '36.1'),
    'det/faster-rcnn_hrnetv2p-w32_1x_coco_fork.py': _det(None, '39.5'),
    'det/faster-rcnn_hrnetv2p-w40_1x_coco_fork.py': _det(None, '40.4'),
    'det/faster-rcnn_hrnetv2p-w48_1x_coco_fork.py': _det(None, '40.9'),
    'det/cascade-rcnn_hrnetv2p-w18_20e_coco.py': _det('41.2', '41.2'),
    'det/cascade-rcnn_hrnetv2p-w32_20e_coco.py': _det('43.3', '43.7'),
    'det/cascade-rcnn_hrnetv2p-w40_20e_coco.py': _det('43.8', None),
    # classification: docs/classification.md; REFERENCE §4 "ImageNet, 224 single crop"
    'cls/hrnet-w18-small-v1_imagenet-224.py': _top1_err('27.7'),
    'cls/hrnet-w18-small-v2_imagenet-224.py': _top1_err('24.9'),
    'cls/hrnet-w18_imagenet-224.py': _top1_err('23.2'),
    'cls/hrnet-w30_imagenet-224.py': _top1_err('21.8'),
    'cls/hrnet-w32_imagenet-224.py': _top1_err('21.5'),
    'cls/hrnet-w40_imagenet-224.py': _top1_err('21.1'),
    'cls/hrnet-w44_imagenet-224.py': _top1_err('21.1'),
    'cls/hrnet-w48_imagenet-224.py': _top1_err('20.7'),
    'cls/hrnet-w64_imagenet-224.py': _top1_err('20.5'),
    'cls/hrnet-w18_imagenet-224_cosine-300e.py': _top1_err(
        '22.1', 'ImageNet val top-1 error (CosineLR + CutMix, 300 epochs)'),
    'cls/hrnet-w48_imagenet-224_cosine-300e.py': _top1_err(
        '18.9', 'ImageNet val top-1 error (CosineLR + CutMix, 300 epochs)'),
}
# Configs that only evaluate (no training split): their command is tools/test.py.
TEST_ONLY = frozenset({'pose/hrnet-w32_ochuman-256x192.py'})
DATASET_NAMES = {
    'CocoKeypointDataset': 'COCO keypoints', 'MPIIDataset': 'MPII', 'CrowdPoseDataset':
    'CrowdPose', 'OCHumanDataset': 'OCHuman', 'CityscapesDataset': 'Cityscapes',
    'LIPDataset': 'LIP', 'PascalContextDataset': 'PASCAL-Context 59',
    'PascalContextDataset60': 'PASCAL-Context 60', 'ADE20KDataset': 'ADE20K',
    'SegFolderDataset': 'your own (SegFolderDataset)', 'CocoDetection': 'COCO',
    'ImageFolderDataset': 'image folder'}


@dataclass
class Row:
    """One line of the table."""

    config: str  # relative to configs/, e.g. 'pose/hrnet-w32_coco-256x192.py'
    task: str
    dataset: str
    input_hw: tuple[int, int]
    input_rule: str
    params: int
    gflops: float
    official: tuple[Official, ...]
    command: str
    quickstart: bool
    ms_per_img: Optional[float] = None


# ------------------------------------------------------------------------------------------------
# Config facts
# ------------------------------------------------------------------------------------------------
def _test_dataset(cfg) -> dict:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    ds = loader.get('dataset', {})
    while ds.get('type') in ('RepeatDataset', 'ClassBalancedDataset', 'ConcatDataset') \
            and 'dataset' in ds:
        ds = ds['dataset']
    return ds


def test_input_hw(cfg) -> tuple[tuple[int, int], str]:
    """The (H, W) a config tests at, and the rule that gave it.

    In this order: the pose codec's ``input_size`` (w, h) (top-down crops); a sliding-window
    test's ``model.test_cfg.crop_size`` (h, w); the test pipeline's ``CenterCrop`` (``crop_size``
    int or (w, h)); its ``Resize(scale=(w, h))``: exactly that size with ``keep_ratio=False``,
    else the largest landscape image the keep-ratio resize can give, (min(scale), max(scale))
    (Cityscapes 1024x2048, COCO detection 800x1333).

    Raises:
        ConfigError: none of these is in the config.
    """
    size = (cfg.model.get('codec') or {}).get('input_size') or cfg.get('input_size')
    if size:
        return (int(size[1]), int(size[0])), 'codec input_size'
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide' and test_cfg.get('crop_size'):
        h, w = test_cfg['crop_size']
        return (int(h), int(w)), 'slide-window crop_size'
    pipeline = _test_dataset(cfg).get('pipeline') or []
    for t in pipeline:
        if t.get('type') == 'CenterCrop':
            c = t['crop_size']
            w, h = (c, c) if isinstance(c, int) else c
            return (int(h), int(w)), 'test CenterCrop'
    for t in pipeline:
        if t.get('type') == 'Resize' and t.get('scale'):
            sw, sh = t['scale']
            if not t.get('keep_ratio', False):
                return (int(sh), int(sw)), 'test Resize'
            return (int(min(sw, sh)), int(max(sw, sh))), 'keep-ratio test Resize bound'
    raise ConfigError('cannot tell the test input size: no codec input_size, slide crop_size, '
                      'test CenterCrop or Resize in the config; pass --shape H W')


def dataset_name(cfg) -> str:
    """A readable name of the test dataset (its ``data_root`` added for the tiny ones)."""
    ds = _test_dataset(cfg)
    root = str(ds.get('data_root', '')).rstrip('/')
    name = DATASET_NAMES.get(ds.get('type', ''), ds.get('type', '?'))
    if ds.get('type') == 'ImageFolderDataset' and 'imagenet' in root.lower():
        name = 'ImageNet-1k'
    return f'{name} ({root})' if root.endswith('_tiny') else name


def find_configs(root: Path = ROOT) -> list[str]:
    """Every config of configs/{pose,seg,det,cls}/ (relative to configs/), task order, sorted."""
    out = []
    for d, _ in TASK_DIRS:
        out += sorted(osp.relpath(p, root / 'configs')
                      for p in glob.glob(str(root / 'configs' / d / '*.py')))
    return out


def resolve_config(config: str) -> tuple[str, str]:
    """(absolute path, name shown in the table) of ``config``: a path relative to configs/
    (``pose/x.py``), to the repository or the working directory (``configs/pose/x.py``), or
    absolute. The name is relative to configs/ when the file lies there."""
    p = Path(config)
    candidates = [p] if p.is_absolute() else [ROOT / 'configs' / p, Path.cwd() / p, ROOT / p]
    found = next((c.resolve() for c in candidates if c.is_file()), None)
    if found is None:
        raise FileNotFoundError(f'{config}: no such config')
    try:
        return str(found), found.relative_to(ROOT / 'configs').as_posix()
    except ValueError:
        return str(found), str(found)


def zoo_row(config: str, shape: Optional[tuple[int, int]] = None) -> Row:
    """The row of one config (see :func:`resolve_config`), without latency.

    Args:
        config: the config.
        shape: count at this (H, W) instead of :func:`test_input_hw`.
    """
    path, rel = resolve_config(config)
    cfg = load_config(path)
    validate_config(cfg)
    if shape is None:
        hw, rule = test_input_hw(cfg)
    else:
        hw, rule = (int(shape[0]), int(shape[1])), '--shape'
    c = config_complexity(cfg, hw)
    in_tree = not osp.isabs(rel)
    task = dict(TASK_DIRS).get(rel.split('/')[0], '?') if in_tree else '?'
    shown = f'configs/{rel}' if in_tree else rel
    command = (f'python tools/test.py {shown} CHECKPOINT' if rel in TEST_ONLY
               else f'python tools/train.py {shown}')
    return Row(config=rel, task=task, dataset=dataset_name(cfg), input_hw=hw, input_rule=rule,
               params=c.params, gflops=c.gflops, official=OFFICIAL.get(rel, ()),
               command=command, quickstart='quickstart' in osp.basename(rel))


# ------------------------------------------------------------------------------------------------
# Latency, with tools/analysis/benchmark.py's functions
# ------------------------------------------------------------------------------------------------
def _benchmark_module():
    name = 'hrnet_benchmark_tool'
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / 'tools/analysis/benchmark.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # its dataclasses look the module up while being created
    spec.loader.exec_module(mod)
    return mod


def measure_latency_ms(config: str, hw: tuple[int, int], budget_s: float = 10.0,
                       warm: int = 1, min_n: int = 3, max_n: int = 20) -> float:
    """Median ms of one batch-1 ``mode='tensor'`` forward on the CPU (benchmark.py's
    ``build_model`` and ``bench``; ``torch.set_num_threads`` is the caller's)."""
    import torch
    bm = _benchmark_module()
    model = bm.build_model(config).eval()
    x = torch.randn(1, 3, *hw)

    def infer():
        with torch.no_grad():
            return model(x, mode='tensor')

    t, _ = bm.bench(infer, bm.Timing(warm, min_n, max_n, budget_s))
    return 1000.0 * t


def hardware_line() -> str:
    import torch
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')),
                       platform.processor() or '?')
    except OSError:
        cpu = platform.processor() or '?'
    return (f'CPU: {cpu} ({os.cpu_count()} logical CPUs), torch threads: '
            f'{torch.get_num_threads()}, torch {torch.__version__}, fp32, NCHW, batch 1')


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------
HEADER = ('| config | task | dataset | input (H×W) | params (M) | GFLOPs | official metric '
          '| CPU ms/img | command |\n|---|---|---|---|---:|---:|---|---:|---|')


def _official_cell(row: Row, source_ids: dict[str, int]) -> str:
    parts = []
    for o in row.official:
        n = source_ids.setdefault(o.source, len(source_ids) + 1)
        parts.append(f'{o.value} {o.metric} [{n}]')
    return '; '.join(parts)


def _row_md(row: Row, source_ids: dict[str, int]) -> str:
    name = osp.basename(row.config)
    h, w = row.input_hw
    ms = ('' if row.ms_per_img is None
          else f'{row.ms_per_img:.1f}' if row.ms_per_img < 100 else f'{row.ms_per_img:.0f}')
    return (f'| [`{name}`](../configs/{row.config}) | {row.task} | {row.dataset} | {h}×{w} '
            f'({row.input_rule}) | {row.params / 1e6:.2f} | {row.gflops:.2f} | '
            f'{_official_cell(row, source_ids)} | {ms} | `{row.command}` |')


def render_markdown(rows: Sequence[Row], hardware: Optional[str] = None,
                    generated_by: str = 'python tools/analysis/model_zoo.py') -> str:
    """The model zoo page: the models, then the quickstarts, then the numbered sources."""
    source_ids: dict[str, int] = {}
    models = [r for r in rows if not r.quickstart]
    quick = [r for r in rows if r.quickstart]
    lines = ['# Model zoo', '',
             f'Generated by `{generated_by}`; do not edit by hand. The models were not '
             're-trained here: the accuracy column is the published number each config '
             'reproduces.', '',
             'How the numbers are counted:', '',
             "- **params (M)** and **GFLOPs**: the model is built from the config's `model` and "
             "run once in `mode='tensor'` at batch 1 (no test-time augmentation, no data "
             'preprocessing) on the meta device, as `tools/analysis/get_flops.py` does '
             '(`hrnet_train/utils/complexity.py`). Params are all parameters (BN included) / '
             '1e6; GFLOPs are the multiply-adds of every convolution (weight numel × output '
             'H × W) and linear layer / 1024³, the official HRNet convention '
             '(leoxiaobin/deep-high-resolution-net.pytorch `lib/utils/utils.py`; / 1e9 gives '
             'about 7 % more). Detection counts backbone + HRFPN + RPN plus 512 RoIs through '
             'the box head(s) (`two_stage.py` `_forward`; RoIAlign and NMS have no '
             'multiply-adds in this convention).',
             "- **input (H×W)**: the config's test input size, with the rule that gave it "
             '(`test_input_hw` in `tools/analysis/model_zoo.py`). For a keep-ratio test '
             '`Resize` it is the largest landscape image the resize allows: Cityscapes '
             '1024×2048 and COCO detection 800×1333 (docs/detection.md quotes 800×1216, the '
             "official fork's size); ADE20K and the custom-folder config (bound 2048×512) are "
             'counted at 512×2048, an upper bound (a smaller image costs proportionally less).',
             '- **official metric**: copied with its source (numbered at the end) from the '
             'table in `tools/analysis/model_zoo.py`; the same numbers are in docs/pose.md, '
             'docs/segmentation.md, docs/detection.md and docs/classification.md. Empty where '
             'no published number exists.']
    if hardware:
        lines += ["- **CPU ms/img**: median latency of the same batch-1 `mode='tensor'` forward "
                  '(`torch.no_grad`, random input, default initialisation; for detection '
                  'without NMS and RoIAlign), measured with `tools/analysis/benchmark.py`\'s '
                  '`build_model` and `bench`. ' + hardware + '.', '']
    else:
        lines += ['- **CPU ms/img**: empty on this page; `--speed` fills it (median batch-1 '
                  'latency measured with `tools/analysis/benchmark.py`).', '']
    if models:
        lines += ['## Models', '', HEADER] + [_row_md(r, source_ids) for r in models] + ['']
    if quick:
        lines += ['## Quickstarts', '',
                  'Tiny bundled data, a few CPU minutes each; they show the pipeline working and '
                  'are not benchmarks (README.md).', '', HEADER]
        lines += [_row_md(r, source_ids) for r in quick] + ['']
    if source_ids:
        lines += ['## Sources', '']
        lines += [f'{n}. {SOURCES[key]}' for key, n in sorted(source_ids.items(),
                                                               key=lambda kv: kv[1])]
    return '\n'.join(lines).rstrip('\n') + '\n'


def command_line(args) -> str:
    """The command that writes this page, for its header: the options that change the table
    (not the output path or ``--speed-budget``)."""
    parts = ['python tools/analysis/model_zoo.py']
    if args.configs:
        parts += ['--configs', *args.configs]
    if args.shape:
        parts += ['--shape', *(str(s) for s in args.shape)]
    if args.speed:
        parts.append('--speed')
        if args.threads:
            parts += ['--threads', str(args.threads)]
    return ' '.join(parts)


def build_parser() -> ToolArgumentParser:
    parser = ToolArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='work_dirs/model_zoo.md',
                        help='Markdown file to write (the page in the repository: '
                             'docs/model_zoo.md, with --speed)')
    parser.add_argument('--configs', nargs='+', default=None,
                        help='only these configs (default: every config of configs/{pose,seg,'
                             'det,cls}/)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                        help='count every config at this input size instead of its test size')
    parser.add_argument('--speed', action='store_true', help='also measure CPU ms/img')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads for --speed (default: torch\'s default)')
    parser.add_argument('--speed-budget', type=float, default=10.0,
                        help='seconds of timed runs per config for --speed (at least 3 runs)')
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    register_all_modules()
    configs = args.configs or find_configs()
    for c in configs:
        resolve_config(c)  # a wrong name fails before any counting
    if args.speed:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
    rows = []
    for c in configs:
        t0 = time.perf_counter()
        row = zoo_row(c, args.shape)
        if args.speed:
            row.ms_per_img = measure_latency_ms(resolve_config(c)[0], row.input_hw,
                                                args.speed_budget)
        rows.append(row)
        ms = '' if row.ms_per_img is None else f'  {row.ms_per_img:.1f} ms/img'
        print(f'{row.config:58s} {row.input_hw[0]}x{row.input_hw[1]:<5d} '
              f'{row.params / 1e6:8.2f}M {row.gflops:9.2f} GFLOPs{ms}  '
              f'({time.perf_counter() - t0:.1f} s)', flush=True)
    md = render_markdown(rows, hardware_line() if args.speed else None,
                         generated_by=command_line(args))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(md)
    print(f'wrote {args.out} ({len(rows)} configs)')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
