"""tools/analysis/benchmark.py --ops: tiny maps and few iterations through the function API.

Timings on a shared CPU are not asserted; the records' structure, the RoI levels and the table
(including the torch / torchvision ratio column) are.
"""
import functools
import json

import pytest
import torch
from _benchmark_tool import POSE_TINY, B, small_matmul_reference

ONE_RUN = B.Timing(warm=1, min_n=1, max_n=2, budget_s=0.0)
TINY = dict(image_hw=(64, 96), strides=(4, 8), num_rois=24, channels=4, output_size=3,
            nms_sizes=(50, 300), timing=ONE_RUN)


def _session(session_class=B.Session):
    return session_class(threads=1, matmul_n=64, matmul_blocks=1, matmul_runs=1, probe_runs=1,
                     block_pause_s=0.0, echo=False)


def test_detector_rois_levels():
    rois, per_level = B.detector_rois(400, (800, 1216), num_levels=4)
    assert rois.shape == (400, 5) and torch.all(rois[:, 0] == 0)
    assert torch.all(rois[:, 3] >= rois[:, 1]) and torch.all(rois[:, 4] <= 800)
    # mmdet map_roi_levels with finest_scale 56: sqrt(area) < 112 -> 0, < 224 -> 1, < 448 -> 2
    size = ((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])).sqrt()
    expected = (size >= 112).long() + (size >= 224).long() + (size >= 448).long()
    for lvl, inds in enumerate(per_level):
        assert torch.equal(inds, torch.where(expected == lvl)[0])
    assert all(i.numel() > 10 for i in per_level)  # every level is exercised


def test_ops_records():
    session = _session()
    session.measure_peak()
    recs = B.measure_ops(session, backends=('torch',), **TINY)
    assert [(r['bench'], r.get('mode'), r.get('num_boxes')) for r in recs] == [
        ('ops_roi_align', 'fwd', None), ('ops_roi_align', 'fwd+bwd', None),
        ('ops_nms', None, 50), ('ops_nms', None, 300)]
    for r in recs:
        assert r['backend'] == 'torch' and r['ms_per_iter'] > 0 and 1 <= r['runs'] <= 2
        assert r['min_ms'] <= r['ms_per_iter'] <= r['max_ms']
        assert len(r['matmul_probe_gflops_before_after']) == 2
        json.dumps(r)
    roi = recs[1]
    assert sum(roi['rois_per_level']) == 24 and roi['strides'] == [4, 8]
    assert (roi['sampling_ratio'], roi['aligned']) == (0, True)
    assert 0 < recs[2]['kept'] <= 50 and 0 < recs[3]['kept'] < 300  # 300 boxes overlap
    table = B.format_ops_table(session.records)  # the matmul record is left out
    assert table.splitlines()[2].startswith('| roi_align fwd, 24 RoIs x 4 ch x 3x3, 2 levels |')
    assert len(table.splitlines()) == 2 + 4


def test_ops_table_ratio():
    recs = [dict(bench='ops_nms', backend='torch', num_boxes=5000, iou_threshold=0.7,
                 ms_per_iter=90.0),
            dict(bench='ops_nms', backend='torchvision', num_boxes=5000, iou_threshold=0.7,
                 ms_per_iter=30.0),
            dict(bench='ops_roi_align', backend='torch', mode='fwd+bwd', num_rois=512,
                 channels=256, output_size=7, strides=[4, 8, 16, 32], ms_per_iter=250.0)]
    lines = B.format_ops_table(recs).splitlines()
    assert lines[2] == '| nms 5000 boxes, IoU 0.7 | 90.0 | 30.0 | 3.00 |'
    assert lines[3] == '| roi_align fwd+bwd, 512 RoIs x 256 ch x 7x7, 4 levels | 250.0 |  |  |'


def test_ops_cli(tmp_path, monkeypatch):
    small_matmul_reference(monkeypatch)
    monkeypatch.setattr(B, 'measure_ops', functools.partial(B.measure_ops, **{
        k: v for k, v in TINY.items() if k != 'timing'}))
    out = tmp_path / 'ops.json'
    assert B.main(['--ops', '--quick', '--threads', '1', '--out', str(out)]) == 0
    data = json.loads(out.read_text())
    assert data['meta']['backends'][0] == 'torch'
    assert [r['bench'] for r in data['results']][0] == 'matmul_fp32_64'
    assert sum(r['bench'] == 'ops_nms' for r in data['results']) == \
        2 * len(data['meta']['backends'])
    assert data['table_md'].startswith('| op | torch ms/iter | torchvision ms/iter |')


def test_parse_args_ops_flag():
    assert B.parse_args(['--ops']).ops and not B.parse_args([]).ops
    with pytest.raises(SystemExit):
        B.parse_args(['--ops', '--threads'])




def test_optimizer_step_records():
    """--optim: the config's Adam and SGD(momentum 0.9), each implementation this torch builds,
    over the config model's parameters; the table's default / fused column."""
    from hrnet_train.engine.fused_optimizer import fused_kernel_available
    session = _session()
    session.measure_peak()
    recs = B.measure_optimizer(session, POSE_TINY, timing=ONE_RUN)
    kinds = ['default', 'foreach'] + (['fused'] if fused_kernel_available('Adam', 'cpu') else [])
    assert [(r['optimizer'], r['backend']) for r in recs] == (
        [('Adam', k) for k in kinds] + [('SGD', k) for k in kinds])
    params = B.build_model(POSE_TINY).parameters()
    n = sum(p.numel() for p in params)
    for r in recs:
        assert r['bench'] == 'ops_optimizer_step' and r['ms_per_iter'] > 0
        assert r['params_m'] == pytest.approx(n / 1e6, rel=1e-4)
        json.dumps(r)
    assert recs[0]['kwargs'] == {'lr': 3e-3} and recs[-1]['kwargs'] == {'lr': 1e-3,
                                                                        'momentum': 0.9}
    lines = B.format_optimizer_table(recs).splitlines()
    assert lines[0] == '| optimizer step | default ms | foreach ms | fused ms | default / fused |'
    assert len(lines) == 4 and lines[2].startswith("| Adam {'lr': 0.003}, ")
    if 'fused' in kinds:
        ms = {r['backend']: r['ms_per_iter'] for r in recs[:3]}
        assert lines[2].endswith(f"| {ms['default'] / ms['fused']:.2f} |")


def test_benchmark_sgd_is_the_runners():
    """Our steps' SGD is built as the runner builds it (fused where torch has the kernel)."""
    from hrnet_train.engine.fused_optimizer import fused_kernel_available
    opt = B._sgd(torch.nn.Linear(2, 2), lr=0.1, momentum=0.9)
    assert (opt.defaults['lr'], opt.defaults['momentum']) == (0.1, 0.9)
    fused = fused_kernel_available('SGD', 'cpu')
    assert bool(opt.defaults['fused']) is fused
    assert B._sgd_label(opt, 'momentum=0.9') == ('SGD(momentum=0.9, fused)' if fused
                                                  else 'SGD(momentum=0.9)')


def test_optim_cli(tmp_path, monkeypatch):
    small_matmul_reference(monkeypatch)
    out = tmp_path / 'optim.json'
    assert B.main(['--optim', '--pose-config', str(POSE_TINY), '--quick', '--out', str(out)]) == 0
    data = json.loads(out.read_text())
    assert {r['bench'] for r in data['results']} == {'matmul_fp32_64', 'ops_optimizer_step'}
    assert data['table_md'].startswith('| optimizer step | default ms |')
