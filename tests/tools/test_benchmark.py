"""tools/analysis/benchmark.py: tiny models and few iterations through the function API.

Only the structure of the records and the sign of the numbers are checked: timings on a shared
CPU are not asserted.
"""
import json
import sys

import pytest
from _benchmark_tool import POSE_TINY, ROOT, SEG_TINY, B, small_matmul_reference

ONE_RUN = B.Timing(warm=1, min_n=1, max_n=1, budget_s=0.0)
FAST = dict(pose_infer=ONE_RUN, pose_train=ONE_RUN, seg_infer=ONE_RUN, seg_train=ONE_RUN)

MODEL_KEYS = {'bench', 'model', 'mode', 'batch', 'input_hw', 'img_per_s', 'median_s_per_iter',
              'runs', 'min_s', 'max_s', 'gmacs_per_img', 'achieved_gflops', 'pct_of_matmul_peak',
              'params_m', 'maxrss_gb_so_far', 'matmul_probe_gflops_before_after', 'precision',
              'memory_format'}


@pytest.fixture(scope='module')
def session():
    s = B.Session(threads=1, matmul_n=128, matmul_blocks=2, matmul_runs=2, probe_runs=1,
                  block_pause_s=0.0, echo=False)
    rec = s.measure_peak()
    assert rec['bench'] == 'matmul_fp32_128' and rec['gflops'] > 0
    assert len(rec['block_median_gflops']) == 2 and rec['threads'] == 1
    return s


def _check_model_record(r, bench, mode, batch, hw):
    assert MODEL_KEYS <= set(r)
    assert (r['bench'], r['mode'], r['batch'], r['input_hw']) == (bench, mode, batch, list(hw))
    for k in ('img_per_s', 'median_s_per_iter', 'gmacs_per_img', 'achieved_gflops',
              'pct_of_matmul_peak', 'params_m', 'maxrss_gb_so_far'):
        assert r[k] > 0, k
    assert r['min_s'] <= r['median_s_per_iter'] <= r['max_s']
    assert r['img_per_s'] == pytest.approx(batch / r['median_s_per_iter'], rel=1e-2)
    assert len(r['matmul_probe_gflops_before_after']) == 2
    json.dumps(r)  # one JSON line per figure


def test_pose_figures_from_config(session):
    recs = B.measure_pose(session, POSE_TINY, infer_batches=(1, 2), train_batches=(2,),
                          input_hw=(64, 48), timings=FAST, name='pose_tiny', label='tiny',
                          backbone=dict(recompute_bn_relu=False))
    assert [r['bench'] for r in recs] == ['pose_tiny_macs', 'pose_tiny_infer', 'pose_tiny_infer',
                                          'pose_tiny_train']
    macs = recs[0]
    assert macs['params_m'] > 0 and macs['gmacs_counted_conv_linear'] > 0
    _check_model_record(recs[1], 'pose_tiny_infer', 'infer', 1, (64, 48))
    _check_model_record(recs[2], 'pose_tiny_infer', 'infer', 2, (64, 48))
    _check_model_record(recs[3], 'pose_tiny_train', 'train', 2, (64, 48))
    assert recs[3]['precision'] == 'fp32' and recs[3]['memory_format'] == 'NCHW'
    assert (recs[3]['recompute_bn_relu'], recs[3]['fast_fusion'], recs[3]['with_cp']) == (
        False, True, False)
    # training counts 3x the forward MACs
    t = recs[3]
    assert t['achieved_gflops'] == pytest.approx(
        6 * t['gmacs_per_img'] * 2 / t['median_s_per_iter'], rel=2e-2)


def test_seg_figures_bf16_channels_last(session):
    recs = B.measure_seg(session, SEG_TINY, name='seg_tiny', label='tiny', input_hw=(64, 128),
                         timings=FAST, amp='bf16', channels_last=True)
    assert [r['bench'] for r in recs] == ['seg_tiny_macs', 'seg_tiny_infer', 'seg_tiny_train']
    _check_model_record(recs[1], 'seg_tiny_infer', 'infer', 1, (64, 128))
    _check_model_record(recs[2], 'seg_tiny_train', 'train', 2, (64, 128))
    assert recs[2]['precision'] == 'bf16-autocast'
    assert recs[2]['memory_format'] == 'channels_last'


def test_det_figures_on_the_tiny_detector(session):
    det_tiny = ROOT / 'configs/det/faster-rcnn_hrnetv2p-w18-small_coco-tiny_quickstart.py'
    recs = B.measure_det(session, det_tiny, input_hw=(128, 160), num_boxes=3,
                         timings=FAST, name='det_tiny', label='tiny')
    assert [r['bench'] for r in recs] == ['det_tiny_macs', 'det_tiny_infer', 'det_tiny_train']
    assert recs[0]['gmacs_counted_conv_linear'] > 0
    _check_model_record(recs[1], 'det_tiny_infer', 'infer', 1, (128, 160))
    _check_model_record(recs[2], 'det_tiny_train', 'train', 2, (128, 160))
    assert recs[1]['published_v100_fps'] == 12.4


def test_build_model_is_single_process():
    import torch
    model = B.build_model(ROOT / 'configs/seg/hrnetv2-w18_cityscapes-512x1024.py')
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and not any(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    assert model.backbone.init_cfg is None
    assert model.backbone.stage2[0].fast_fusion
    assert model.backbone.recompute_bn_relu == model.decode_head.recompute_bn_relu == 'cpu'
    model = B.build_model(ROOT / 'configs/seg/hrnetv2-w18_cityscapes-512x1024.py',
                          backbone=dict(recompute_bn_relu=False))
    assert model.backbone.recompute_bn_relu is model.decode_head.recompute_bn_relu is False
    with pytest.raises(ValueError, match=r"backbone switches must be among .*got \['fast'\]"):
        B.build_model(ROOT / 'configs/seg/hrnetv2-w18_cityscapes-512x1024.py',
                      backbone=dict(fast=True))


def test_pipeline_record():
    r = B.measure_pipeline(warm=2, rounds=2, per_round=3)
    assert r['bench'] == 'pose_topdown_train_pipeline' and r['source'].startswith('real')
    assert r['samples_per_s'] > 0 and r['ms_per_sample'] > 0
    assert r['n_instances'] == 12 and r['n_images'] == 4
    assert r['pipeline'] == ['LoadImage', 'GetBBoxCenterScale', 'RandomFlip', 'RandomHalfBody',
                             'RandomBBoxTransform', 'TopdownAffine', 'GenerateTarget',
                             'PackPoseInputs']
    assert set(r['per_transform_ms']) == {'get_data_info', *r['pipeline']}
    assert all(v >= 0 for v in r['per_transform_ms'].values())
    assert r['reduced_decode'] is False and r['decode_reductions'] == {'1': 2 * 3}
    json.dumps(r)


def test_pipeline_record_with_reduced_decode():
    r = B.measure_pipeline(warm=2, rounds=2, per_round=20, reduced_decode=True)
    assert r['bench'] == 'pose_topdown_train_pipeline_reduced' and r['reduced_decode'] is True
    assert r['samples_per_s'] > 0 and r['pipeline'][0] == 'LoadImage'
    counts = r['decode_reductions']
    assert set(counts) <= {'1', '2', '4', '8'} and sum(counts.values()) == 2 * 20
    assert counts.get('1', 0) > 0  # most bundled persons are smaller than 2x the input
    assert '| top-down train pipeline, reduced decode, 1 core, real COCO val2017 images | 1 |' \
        in B.format_table([r])
    with pytest.raises(ValueError, match='no LoadImage step'):
        B._with_reduced_decode([dict(type='TopdownAffine')])


def test_pipeline_record_in_image_grouped_order():
    r = B.measure_pipeline(warm=2, rounds=2, per_round=12, reduced_decode=True, grouped=True)
    assert r['bench'] == 'pose_topdown_train_pipeline_grouped'
    assert r['grouped'] is r['cache_last'] is r['reduced_decode'] is True
    assert sum(r['decode_reductions'].values()) == 2 * 12
    assert ('| top-down train pipeline, image-grouped order + cache_last, reduced decode, 1 core, '
            'real COCO val2017 images | 1 |') in B.format_table([r])


@pytest.mark.parametrize('reduced', [False, True])
def test_loader_records(reduced):
    recs = B.measure_loader(workers=(0, 1), batch_size=4, batches=2, warm_batches=1,
                            reduced_decode=reduced, model_img_per_s=10.0)
    assert [r['num_workers'] for r in recs] == [0, 1]
    for r in recs:
        assert r['bench'] == 'pose_topdown_train_loader' and r['reduced_decode'] is reduced
        assert (r['batch_size'], r['batches'], r['warm_batches']) == (4, 2, 1)
        assert r['input_shape'] == [3, 256, 192] and r['heatmap_shape'] == [17, 64, 48]
        assert r['samples_per_s'] > 0 and r['ms_per_batch'] > 0
        assert r['loader_over_model'] == pytest.approx(r['samples_per_s'] / 10.0, rel=1e-4)
        assert r['dataset'].endswith('(12 instances) x 1')  # 12 >= 4 x (1 + 2) samples
        json.dumps(r)
    table = B.format_loader_table(recs).splitlines()
    assert len(table) == 4 and table[2].startswith('| 0 | 4 | ')


def test_loader_record_with_the_grouped_config(monkeypatch):
    """ImageGroupedSampler: the bundled set is repeated as distinct image files (a
    RepeatDataset would make every repeat of an image one group and one decode)."""
    import cv2

    import hrnet_train.datasets.transforms.loading as loading
    decodes = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(loading.cv2, 'imdecode',
                        lambda data, flag: decodes.append(flag) or real_imdecode(data, flag))
    recs = B.measure_loader(B.ROOT / 'configs/pose/hrnet-w32_coco-256x192_grouped.py',
                            workers=(0,), batch_size=12, batches=2, warm_batches=1)
    r, = recs
    assert r['sampler'] == 'ImageGroupedSampler' and r['reduced_decode'] and r['cache_last']
    assert r['dataset'].endswith('12 instances as 3 copies with distinct image files')
    # 3 batches of 12 = 36 persons of 12 distinct images (one decode each, a second one when
    # two crops of an image need different reductions)
    assert 12 <= len(decodes) <= 18
    assert '| ImageGroupedSampler |' in B.format_loader_table(recs)


def test_loader_cli_rejects_bad_workers(tmp_path):
    with pytest.raises(ValueError, match='--workers must be comma-separated integers'):
        B.main(['--loader', '--workers', 'a,b', '--out', str(tmp_path / 'o.json')])


def test_table_and_comparison(session, tmp_path):
    recs = list(session.records)
    table = B.format_table(recs)
    assert table.splitlines()[0].startswith('| measurement |')
    assert len(table.splitlines()) == 2 + len(recs)
    ours = [dict(bench='matmul_fp32_2048', gflops=300.0),
            dict(bench='pose_w32_infer', batch=8, img_per_s=12.0),
            dict(bench='seg_w48_train', batch=2, img_per_s=0.1),
            dict(bench='pose_topdown_train_pipeline', source='real COCO', samples_per_s=250.0),
            dict(bench='pose_topdown_train_pipeline_grouped', source='real COCO', grouped=True,
                 reduced_decode=True, samples_per_s=500.0)]
    peer = [dict(bench='matmul_fp32_2048', gflops=310.0),
            dict(bench='pose_w32_infer', batch=8, img_per_s=10.0),
            dict(bench='pose_topdown_train_pipeline', source='real COCO', samples_per_s=200.0),
            dict(bench='pose_topdown_train_pipeline', source='synthetic', samples_per_s=1.0)]
    rows = B.compare(ours, peer)
    assert [r['figure'] for r in rows] == [
        'fp32 matmul 2048^3', 'pose_w32_infer bs8', 'pose train pipeline, 1 core',
        'pose train pipeline, 1 core, image-grouped order + cache_last, reduced decode']
    assert [round(r['ratio'], 3) for r in rows] == [0.968, 1.2, 1.25, 2.5]
    assert '| pose_w32_infer bs8 | img/s | 12 | 10 | 1.20 |' in B.format_comparison(rows)
    # --compare reads two --out files
    for name, res in (('o.json', ours), ('p.json', peer)):
        (tmp_path / name).write_text(json.dumps(dict(meta={}, results=res)))
    assert B.main(['--compare', str(tmp_path / 'o.json'), str(tmp_path / 'p.json')]) == 0


def test_interleaved_ab_alternates_the_order_and_takes_per_pair_ratios():
    """A fake clock: a takes 3, 3, 6 s, b 1, 2, 2 s; pairs run a b, b a, a b after one warm
    call each, and the ratio is the median of a/b per pair (3, 1.5, 3)."""
    now, calls = [0.0], []
    durations = dict(a=iter([9, 3, 3, 6]), b=iter([9, 1, 2, 2]))

    def make(name):
        def fn():
            calls.append(name)
            now[0] += next(durations[name])
        return fn
    ab = B.interleaved_ab(make('a'), make('b'), pairs=3, warm=1, clock=lambda: now[0])
    assert calls == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']
    assert ab['a_s'] == [3, 3, 6] and ab['b_s'] == [1, 2, 2]
    assert (ab['a_median_s'], ab['b_median_s']) == (3, 2)
    assert (ab['ratio_median'], ab['ratio_min'], ab['ratio_max']) == (3, 1.5, 3)
    with pytest.raises(ValueError, match='pairs must be at least 1, got 0'):
        B.interleaved_ab(make('a'), make('b'), pairs=0)


_FAKE_PEER = '''
import torch


def import_mmpose_hrnet():
    {body}


def hrnet_extra(c):
    return dict(width=c)


def import_mmseg():
    {seg_body}
'''
_FAKE_SEG = '''import torch.nn.functional as F

    class HRNet(torch.nn.Module):  # four maps at strides 4..32, 2**b * width channels
        def __init__(self, extra, norm_cfg, norm_eval):
            super().__init__()
            c = extra['width']
            self.convs = torch.nn.ModuleList(
                torch.nn.Conv2d(3, c * 2 ** b, 3, stride=4 * 2 ** b, padding=1)
                for b in range(4))

        def forward(self, x):
            return [conv(x) for conv in self.convs]

    class FCNHead(torch.nn.Module):  # resize_concat + 1x1 to the classes
        def __init__(self, in_channels, num_classes, **kw):
            super().__init__()
            self.cls = torch.nn.Conv2d(sum(in_channels), num_classes, 1)

        def forward(self, feats):
            size = feats[0].shape[-2:]
            return self.cls(torch.cat([feats[0]] + [
                F.interpolate(f, size=size, mode='bilinear') for f in feats[1:]], 1))

        def loss_by_feat(self, logits, samples):
            labels = torch.cat([s.gt_sem_seg.data for s in samples])
            logits = F.interpolate(logits, size=labels.shape[-2:], mode='bilinear')
            return dict(loss_ce=F.cross_entropy(logits, labels, ignore_index=255))

    class SegDataSample:
        def __init__(self, gt_sem_seg):
            self.gt_sem_seg = gt_sem_seg
    return HRNet, FCNHead, SegDataSample'''
_FAKE_BACKBONE = '''class Backbone(torch.nn.Module):
        def __init__(self, extra):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, extra['width'], 3, stride=4, padding=1)

        def forward(self, x):
            return [self.conv(x)]
    return Backbone'''


def _write_fake_peer(tmp_path):
    (tmp_path / 'peer_bench.py').write_text(
        _FAKE_PEER.format(body=_FAKE_BACKBONE, seg_body=_FAKE_SEG))


def test_load_peer_pose_builds_the_peers_model_with_its_own_builders(tmp_path):
    _write_fake_peer(tmp_path)
    site = str(tmp_path / 'site')
    try:
        peer = B.load_peer_pose(tmp_path, site)
        assert sys.path[-1] == site
    finally:
        sys.path.remove(site)
    import torch
    assert peer(torch.randn(2, 3, 64, 48)).shape == (2, 17, 16, 12)  # backbone + 1x1 head
    assert peer.final_layer.in_channels == 32


def test_load_peer_pose_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'--ab-peer: no peer_bench.py in '):
        B.load_peer_pose(tmp_path)
    (tmp_path / 'peer_bench.py').write_text(
        _FAKE_PEER.format(body="raise ImportError(\"No module named 'mmpose'\")",
                          seg_body="raise ImportError(\"No module named 'mmseg'\")"))
    with pytest.raises(FileNotFoundError, match=r"cannot import mmpose \(No module named "
                       r"'mmpose'\); pass --peer-site"):
        B.load_peer_pose(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"cannot import mmseg \(No module named "):
        B.load_peer_seg(tmp_path, 18)


def test_ab_pose_records(session, tmp_path):
    """The tiny pose model against a fake peer: one record per figure with both speeds, the
    ratio inside its range, and the variant of ours."""
    _write_fake_peer(tmp_path)
    peer = B.load_peer_pose(tmp_path)
    recs = B.measure_ab_pose(session, peer, POSE_TINY, infer_batches=(1,), train_batches=(2,),
                             input_hw=(64, 48), pairs=2, channels_last=True, fuse_bn=True)
    assert [r['bench'] for r in recs] == ['ab_pose_w32_infer', 'ab_pose_w32_train']
    for r, bs in zip(recs, (1, 2)):
        assert r['batch'] == bs and r['pairs'] == 2 and len(r['peer_s']) == len(r['ours_s']) == 2
        assert r['ratio_min'] <= r['ratio_median'] <= r['ratio_max']
        assert r['ours_img_per_s'] > 0 and r['peer_img_per_s'] > 0
        assert r['memory_format'] == 'channels_last' and r['recompute_bn_relu'] == 'cpu'
    assert recs[0]['fuse_bn'] is True
    table = B.format_ab_table(recs)
    assert table.count('\n') == 3 and '| ab_pose_w32_train | 2 | 2 |' in table


@pytest.mark.slow
def test_ab_peer_cli(tmp_path, capsys, monkeypatch):
    """--ab-peer end to end on the tiny config against a fake peer: the JSON file holds the
    matmul reference and the three quick figures, and the table is printed."""
    _write_fake_peer(tmp_path)
    small_matmul_reference(monkeypatch)
    out = tmp_path / 'ab.json'
    assert B.main(['--ab-peer', str(tmp_path), '--pose-config', str(POSE_TINY), '--quick',
                   '--skip-seg', '--ab-pairs', '1', '--threads', '1', '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r['bench'] for r in result['results']] == [
        'matmul_fp32_64', 'ab_pose_w32_infer', 'ab_pose_w32_infer', 'ab_pose_w32_train']
    assert result['meta']['ab_peer'] == str(tmp_path)
    assert '| ab_pose_w32_train | 8 | 1 |' in capsys.readouterr().out


def test_ab_seg_pairs_option(tmp_path, monkeypatch):
    """--ab-seg-pairs INFER,TRAIN reaches both seg figures (default 5,3; 5,2 with --quick);
    a malformed value is a one-line argparse error."""
    _write_fake_peer(tmp_path)
    small_matmul_reference(monkeypatch)
    calls = []
    monkeypatch.setattr(B, 'load_peer_seg', lambda *a, **k: (None, None))
    monkeypatch.setattr(B, 'measure_ab_seg',
                        lambda *a, **k: calls.append((k['infer_pairs'], k['train_pairs'])))
    base = ['--ab-peer', str(tmp_path), '--skip-pose', '--threads', '1']
    for extra, expected in (([], (5, 3)), (['--quick'], (5, 2)),
                            (['--ab-seg-pairs', '2,8'], (2, 8))):
        calls.clear()
        B.run_ab(B.parse_args(base + extra))
        assert calls == [expected] * len(B.SEG_CONFIGS)
    for bad in ('8', '0,3', '2,x'):
        with pytest.raises(SystemExit):
            B.parse_args(base + ['--ab-seg-pairs', bad])


def test_ab_seg_records(session, tmp_path):
    """The tiny seg model against a fake mmseg built by the peer's own loader: inference and
    training records with both speeds; a model with other than the peer's 19 classes is
    refused."""
    _write_fake_peer(tmp_path)
    peer, samples = B.load_peer_seg(tmp_path, 8)
    import torch
    assert peer(torch.randn(1, 3, 64, 128)).shape == (1, 19, 16, 32)
    # a second width from the same (cached) classes: the peer's import_mmseg runs once
    (tmp_path / 'peer_bench.py').write_text('raise RuntimeError("imported twice")')
    assert B.load_peer_seg(tmp_path, 4)[0].backbone.convs[0].out_channels == 4
    recs = B.measure_ab_seg(session, peer, samples, SEG_TINY, name='ab_seg_tiny',
                            input_hw=(64, 128), infer_pairs=1, train_pairs=1,
                            channels_last=True)
    assert [r['bench'] for r in recs] == ['ab_seg_tiny_infer', 'ab_seg_tiny_train']
    assert [r['batch'] for r in recs] == [1, 2]
    for r in recs:
        assert r['pairs'] == 1 and r['ratio_min'] == r['ratio_median'] == r['ratio_max'] > 0
        assert r['memory_format'] == 'channels_last'
    assert peer.decode_head.cls.weight.grad is not None  # the peer trained through its loss


def test_onednn_switch(session, capsys):
    """--onednn: the inference figures with fuse_onednn's model (every conv prepacked), the
    variant recorded as fuse_bn='onednn'; it needs --channels-last and excludes --compile."""
    import torch

    from hrnet_train.models.layers.onednn_conv import OneDNNConv2d, onednn_available
    args = B.parse_args(['--onednn', '--channels-last'])
    assert args.fuse_bn == 'onednn'
    for argv, message in ((['--onednn'], 'add --channels-last'),
                          (['--onednn', '--channels-last', '--compile'], 'choose one')):
        with pytest.raises(SystemExit):
            B.parse_args(argv)
        assert message in capsys.readouterr().err
    if not onednn_available()[0]:
        pytest.skip(f'no fused oneDNN kernel: {onednn_available()[1]}')
    model = B.build_model(POSE_TINY)
    net = B._inference_model(model, fuse_bn='onednn', compile=False)
    assert net is not model and not any(isinstance(m, OneDNNConv2d) for m in model.modules())
    assert sum(isinstance(m, OneDNNConv2d) for m in net.modules()) == sum(
        isinstance(m, torch.nn.Conv2d) for m in model.modules())
    recs = B.measure_pose(session, POSE_TINY, infer_batches=(1,), train_batches=(2,),
                          input_hw=(64, 48), timings=FAST, name='pose_tiny', label='tiny',
                          channels_last=True, fuse_bn='onednn')
    assert [r['fuse_bn'] for r in recs[1:]] == ['onednn', 'onednn']


def test_time_steps_synchronises_and_takes_the_median():
    import torch
    calls, clock = [], iter([0.0, 2.0, 2.0, 3.0, 3.0, 7.0])
    t = B.time_steps(lambda: calls.append(1), torch.device('cpu'), warm=2, runs=3,
                     clock=lambda: next(clock))
    assert len(calls) == 5 and t == dict(median_s=2.0, min_s=1.0, max_s=4.0, runs=3)
    with pytest.raises(ValueError, match='runs must be at least 1, got 0'):
        B.time_steps(lambda: None, torch.device('cpu'), warm=0, runs=0)


@pytest.mark.parametrize('kind,config,hw', [
    ('pose', POSE_TINY, (64, 48)),
    ('seg', SEG_TINY, (64, 128)),
    ('det', ROOT / 'configs/det/faster-rcnn_hrnetv2p-w18-small_coco-tiny_quickstart.py',
     (128, 160)),
])
def test_device_throughput_records_on_cpu(kind, config, hw):
    """The --device figures run on the CPU too (CUDA is where they are meant for): one record
    per variant, a training step that changes the weights, no peak memory off CUDA."""
    recs = B.measure_train_throughput('cpu', config, kind=kind, batch=2, input_hw=hw,
                                      name='tiny', variants=B.GPU_VARIANTS[:2], warm=1, runs=1,
                                      echo=False)
    assert [(r['variant'], r['precision'], r['memory_format']) for r in recs] == [
        ('fp32', 'fp32', 'NCHW'), ('bf16+channels_last', 'bf16-autocast', 'channels_last')]
    for r in recs:
        assert r['bench'] == 'gpu_tiny_train' and r['batch'] == 2 and r['input_hw'] == list(hw)
        assert r['img_per_s'] == pytest.approx(2 / r['median_s'], rel=1e-2)
        assert r['peak_mem_gb'] is None and r['runs'] == 1 and r['compiled'] is False
    with pytest.raises(ValueError, match="kind must be 'pose', 'seg' or 'det', got 'cls'"):
        B._train_step('cls', None, __import__('torch').zeros(1, 3, 4, 4), None)


def test_device_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(B, 'GPU_FIGURES', (('pose_tiny', POSE_TINY, 'pose', 2, (64, 48),
                                            B.GPU_VARIANTS),))
    out = tmp_path / 'gpu.json'
    assert B.main(['--device', 'cpu', '--quick', '--no-compile', '--device-batch', 'pose=3',
                   '--device-hw', 'pose=96x64', '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['meta']['device'] == 'cpu'
    assert [(r['bench'], r['variant'], r['batch'], r['input_hw']) for r in result['results']] == [
        ('gpu_pose_tiny_train', 'fp32', 3, [96, 64]),
        ('gpu_pose_tiny_train', 'bf16+channels_last', 3, [96, 64])]
    assert '| gpu_pose_tiny_train | bf16+channels_last | 3 |' in capsys.readouterr().out
    assert B.main(['--device', 'cpu', '--skip-pose', '--out', str(out)]) == 0
    assert json.loads(out.read_text())['results'] == []
    assert B._batch_overrides('pose=64,det=2') == {'pose': 64, 'det': 2}
    for bad in ('pose=0', 'cls=4', 'seg=x'):
        with pytest.raises(SystemExit):
            B.parse_args(['--device', 'cuda', '--device-batch', bad])
        assert "expected pose=N,seg=N,det=N with N >= 1, got" in capsys.readouterr().err
    assert B._hw_overrides('pose=64x48,det=800x1344') == {'pose': (64, 48), 'det': (800, 1344)}
    for bad in ('pose=64', 'seg=16x16', 'cls=64x48', 'det=axb'):
        with pytest.raises(SystemExit):
            B.parse_args(['--device', 'cuda', '--device-hw', bad])
        assert f"expected pose=HxW,seg=HxW,det=HxW with H, W >= 32, got '{bad}'" in \
            capsys.readouterr().err


@pytest.mark.slow
def test_gpu_check_script_runs_on_cpu(tmp_path):
    """tools/analysis/gpu_check.sh run, as on a device machine but with GPU_CHECK_DEVICE=cpu:
    the device figures and the loader figure land under $OUT; a wrong verb is a usage error."""
    import os
    import subprocess
    script = ROOT / 'tools/analysis/gpu_check.sh'
    env = dict(os.environ, OUT=str(tmp_path), GPU_CHECK_DEVICE='cpu', GPU_CHECK_WORKERS='0',
               GPU_CHECK_ARGS='--quick --no-compile --skip-seg --skip-det --device-batch pose=1 '
                              '--device-hw pose=64x64')
    proc = subprocess.run(['bash', str(script), 'run'], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'device.txt', 'gpu.json', 'gpu.log', 'loader.json', 'loader.log']
    gpu = json.loads((tmp_path / 'gpu.json').read_text())
    assert [(r['variant'], r['input_hw']) for r in gpu['results']] == [
        ('fp32', [64, 64]), ('bf16+channels_last', [64, 64])]
    assert json.loads((tmp_path / 'loader.json').read_text())['results'][0]['num_workers'] == 0
    assert 'torch' in (tmp_path / 'device.txt').read_text()
    proc = subprocess.run(['bash', str(script)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert 'usage: bash tools/analysis/gpu_check.sh fetch|run' in proc.stderr
