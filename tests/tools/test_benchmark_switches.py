"""tools/analysis/benchmark.py --switches: each speed switch against the defaults, tiny models.

Timings on a shared CPU are not asserted; the records' structure, the ratios recomputed from
the recorded per-call times, the verdict rule and the outputs' agreement with the defaults are.
"""
import json
import statistics

import pytest
from _benchmark_tool import POSE_TINY, ROOT, SEG_TINY, B, small_matmul_reference

DET_TINY = ROOT / 'configs/det/faster-rcnn_hrnetv2p-w18-small_coco-tiny_quickstart.py'


@pytest.fixture(scope='module')
def session():
    s = B.Session(threads=1, matmul_n=64, matmul_blocks=1, matmul_runs=1, probe_runs=1,
                  block_pause_s=0.0, echo=False)
    s.measure_peak()
    return s


@pytest.mark.parametrize('ratios,verdict', [
    ((1.10, 1.02, 1.20), 'faster'),
    ((1.10, 0.98, 1.20), 'no clear difference'),  # one pair says slower
    ((1.04, 1.01, 1.08), 'no clear difference'),  # within the margin
    ((0.90, 0.85, 0.97), 'slower'),
    ((0.90, 0.85, 1.01), 'no clear difference'),
    ((1.00, 1.00, 1.00), 'no clear difference'),
])
def test_switch_verdict(ratios, verdict):
    assert B.switch_verdict(*ratios) == verdict


def _check(records, task, modes):
    names = {m: [s.name for s in B.SWITCHES if s.mode == m and not s.compile] for m in modes}
    assert [(r['bench'], r['switch']) for r in records] == [
        (f'switch_{task}_{m}', n) for m in modes for n in names[m]]
    for r in records:
        assert r['pairs'] == 2 and len(r['default_s']) == len(r['switch_s']) == 2
        ratios = [a / b for a, b in zip(r['default_s'], r['switch_s'])]
        assert r['ratio_median'] == pytest.approx(statistics.median(ratios), rel=1e-3)
        assert r['ratio_min'] <= r['ratio_median'] <= r['ratio_max']
        assert r['verdict'] == B.switch_verdict(r['ratio_median'], r['ratio_min'],
                                                r['ratio_max'])
        assert r['default_img_per_s'] == pytest.approx(
            r['batch'] / statistics.median(r['default_s']), rel=1e-3)
        assert r['turn_on'].startswith('`')
        json.dumps(r)
        if r['mode'] == 'infer':
            # every inference switch changes the numbers by float rounding only
            assert 0 <= r['max_rel_diff'] < 1e-5, r
        else:
            assert 'max_rel_diff' not in r


def test_pose_switches(session):
    recs = B.measure_switches(session, POSE_TINY, input_hw=(64, 48), infer_batch=2,
                              train_batch=2, pairs=2)
    _check(recs, 'pose', ('infer', 'train'))
    assert {r['batch'] for r in recs} == {2} and recs[0]['input_hw'] == [64, 48]
    table = B.format_switch_table(recs)
    assert table.count('\n') == len(recs) + 1
    assert '| onednn | infer bs 2 |' in table and '| channels_last | train bs 2 |' in table


def test_seg_switches_default_batches(session):
    """Seg: inference at batch 1, training at batch 2 unless given; the seg model's
    ``inference`` (logits at the input size) is what the inference switches are checked on."""
    recs = B.measure_switches(session, SEG_TINY, input_hw=(64, 128), pairs=2)
    _check(recs, 'seg', ('infer', 'train'))
    assert [r['batch'] for r in recs if r['mode'] == 'infer'] == [1] * 4
    assert {r['batch'] for r in recs if r['mode'] == 'train'} == {2}


def test_compile_switches_only_when_asked(session):
    only_compiled = [s for s in B.SWITCHES if s.compile]
    assert {s.mode for s in only_compiled} == {'infer', 'train'}
    assert B.measure_switches(session, POSE_TINY, switches=only_compiled, input_hw=(64, 48),
                              infer_batch=1, train_batch=1, pairs=1) == []


def test_switches_refuse_other_tasks(session, monkeypatch, capsys):
    with pytest.raises(ValueError, match='top-down pose and segmentation configs; '
                                         f'{DET_TINY} builds FasterRCNN'):
        B.measure_switches(session, DET_TINY, pairs=1)
    # the CLI refuses before it times the matmul reference (~20 s), and a missing file is an
    # argparse error
    monkeypatch.setattr(B.Session, 'measure_peak', lambda self: pytest.fail('timed first'))
    with pytest.raises(ValueError, match='builds FasterRCNN'):
        B.run_switches(B.parse_args(['--switches', str(DET_TINY)]))
    with pytest.raises(SystemExit) as e:
        B.parse_args(['--switches', 'no/such/config.py'])
    assert e.value.code == 2
    assert '--switches: no config file no/such/config.py' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        B.parse_args(['--pose-config', 'no/such/pose.py'])
    assert '--pose-config: no config file no/such/pose.py' in capsys.readouterr().err


@pytest.mark.slow
def test_switches_cli(tmp_path, capsys, monkeypatch):
    small_matmul_reference(monkeypatch)
    out = tmp_path / 'switches.json'
    assert B.main(['--switches', str(POSE_TINY), '--switch-pairs', '1', '--threads', '1',
                   '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    benches = [r['bench'] for r in result['results']]
    assert benches[0] == 'matmul_fp32_64'
    assert benches[1:] == ['switch_pose_infer'] * 4 + ['switch_pose_train'] * 4
    assert result['meta']['cpu_capability'] and result['table_md'].startswith('| switch |')
    assert {r['batch'] for r in result['results'][1:]} == {8}
    assert {tuple(r['input_hw']) for r in result['results'][1:]} == {(128, 96)}
    assert '| no fused optimizer | train bs 8 |' in capsys.readouterr().out


@pytest.mark.parametrize('bad', ['0', 'x', '-1'])
def test_switch_pairs_must_be_positive(bad, capsys):
    with pytest.raises(SystemExit) as e:
        B.parse_args(['--switches', str(POSE_TINY), '--switch-pairs', bad])
    assert e.value.code == 2
    assert 'expected a pair count >= 1' in capsys.readouterr().err
