"""``tools/analysis/benchmark.py`` loaded as a module, once, for the tests of tests/tools."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POSE_TINY = ROOT / 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py'
SEG_TINY = ROOT / 'configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py'

_NAME = 'benchmark_tool'
if _NAME in sys.modules:
    B = sys.modules[_NAME]
else:
    _spec = importlib.util.spec_from_file_location(_NAME, ROOT / 'tools/analysis/benchmark.py')
    B = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = B  # dataclasses look the module up while the class is created
    _spec.loader.exec_module(B)


def small_matmul_reference(monkeypatch) -> None:
    """Make the CLI's ``Session`` time a 64x64 matmul reference (one block, no pause) instead
    of 2048x2048 (4 blocks of 10, the peer's): the CLI tests check the wiring, and the full
    reference alone took ~17 s a run on one thread."""
    import functools
    monkeypatch.setattr(B, 'Session', functools.partial(
        B.Session, matmul_n=64, matmul_blocks=1, matmul_runs=2, probe_runs=1,
        block_pause_s=0.0))
