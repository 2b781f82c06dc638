"""tools/train.py and tools/test.py on the toy experiment (tests/engine/_toy_config.py)."""
import importlib.util
import json
import os.path as osp

import pytest
import torch

from hrnet_train.utils.errors import ConfigError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_DIR = osp.join(ROOT, 'tests', 'engine')
CONFIG = osp.join(TOY_DIR, '_toy_config.py')
QUIET = ['train_cfg.val_begin=1000', 'log_level=WARNING']


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'_tool_{name}',
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tools(monkeypatch):
    monkeypatch.syspath_prepend(TOY_DIR)  # custom_imports=['_toy'] in the toy config
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    return _tool('train'), _tool('test')


def test_train_resume_and_test_cli(tools, tmp_path):
    train, test = tools
    work_dir = str(tmp_path / 'wd')
    runner = train.main([CONFIG, '--work-dir', work_dir,
                         '--cfg-options', 'train_cfg.max_iters=4', *QUIET])
    assert runner.iter == 4 and osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    assert osp.isfile(osp.join(work_dir, '_toy_config.py'))  # config dumped into the work dir

    # --resume with no value = auto: continues from iter_4
    runner = train.main([CONFIG, '--work-dir', work_dir, '--resume',
                         '--cfg-options', 'train_cfg.max_iters=6', *QUIET])
    assert runner.model.train_forwards == 2 and runner.iter == 6
    # --resume CKPT: an explicit file
    runner = train.main([CONFIG, '--work-dir', work_dir, '--resume',
                         osp.join(work_dir, 'iter_4.pth'),
                         '--cfg-options', 'train_cfg.max_iters=5', *QUIET])
    assert runner.model.train_forwards == 1

    # --resume in an empty work dir: nothing to resume, so the config's load_from is the start
    fresh = train.main([CONFIG, '--work-dir', str(tmp_path / 'fresh'), '--resume',
                        '--cfg-options', 'train_cfg.max_iters=1', *QUIET])
    finetune = train.main([CONFIG, '--work-dir', str(tmp_path / 'ft'), '--resume', '--cfg-options',
                           f'load_from={osp.join(work_dir, "iter_6.pth")}',
                           'train_cfg.max_iters=1', *QUIET])
    assert fresh.iter == finetune.iter == 1 and finetune.model.train_forwards == 1
    assert not torch.equal(fresh.model.linear.weight, finetune.model.linear.weight)

    out = tmp_path / 'metrics' / 'm.json'
    metrics = test.main([CONFIG, osp.join(work_dir, 'iter_6.pth'), '--work-dir',
                         str(tmp_path / 'test'), '--out', str(out),
                         '--dump', str(tmp_path / 'res.json'),
                         '--cfg-options', 'log_level=WARNING'])
    saved = json.loads(out.read_text())
    assert set(saved) == {'toy/mae', 'toy/num_samples'} and saved['toy/num_samples'] == 10
    assert saved['toy/mae'] == pytest.approx(metrics['toy/mae'])
    dumped = json.loads((tmp_path / 'res.toy.json').read_text())  # metric's outfile_prefix
    assert sorted(r['idx'] for r in dumped) == list(range(10))


def test_train_cli_options(tools, tmp_path):
    train, _ = tools
    args = train.parse_args([CONFIG, '--amp', '--local-rank', '0', '--cfg-options',
                             'optim_wrapper.optimizer.lr=0.5', 'randomness.seed=3'])
    cfg = train.build_config(args)
    assert cfg.work_dir == osp.join('./work_dirs', '_toy_config')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == ('float16' if torch.cuda.is_available() else 'bfloat16')
    assert cfg.optim_wrapper.optimizer.lr == 0.5 and cfg.randomness.seed == 3
    assert cfg.resume is False and cfg.launcher == 'none'
    if not torch.cuda.is_available():
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'

    cfg = train.build_config(train.parse_args([CONFIG, '--resume', '--local_rank', '0']))
    assert cfg.resume == 'auto' and cfg.load_from is None
    (tmp_path / 'ckpt').mkdir()
    ckpt = tmp_path / 'ckpt' / 'iter_4.pth'
    ckpt.write_bytes(b'')
    cfg = train.build_config(train.parse_args([CONFIG, '--resume', str(ckpt)]))
    assert cfg.resume is True and cfg.load_from == str(ckpt)
    with pytest.raises(FileNotFoundError, match='--resume a/iter_4.pth: checkpoint file not found'):
        train.build_config(train.parse_args([CONFIG, '--resume', 'a/iter_4.pth']))
    cfg = train.build_config(train.parse_args([CONFIG, '--amp', '--amp-dtype', 'float16']))
    assert cfg.optim_wrapper.dtype == 'float16'
    with pytest.raises(ConfigError, match='auto_scale_lr'):
        train.build_config(train.parse_args([CONFIG, '--auto-scale-lr']))
    cfg = train.build_config(train.parse_args(
        [CONFIG, '--auto-scale-lr', '--cfg-options', 'auto_scale_lr.base_batch_size=4']))
    assert cfg.auto_scale_lr.enable is True

    runner = train.main([CONFIG, '--work-dir', str(tmp_path), '--amp', '--cfg-options',
                         'train_cfg.max_iters=2', *QUIET])
    assert type(runner.optim_wrapper).__name__ == 'AmpOptimWrapper'


def test_yacs_yaml_config(tools, tmp_path, monkeypatch):
    """A .yaml CONFIG goes through hrnet_train.config.yacs_import.yacs_to_config (stubbed here;
    the converter has its own tests); a bad config raises an error naming the file."""
    from mmengine.config import Config

    import hrnet_train.config.yacs_import as yacs_import
    train, _ = tools
    yaml = tmp_path / 'w32_256x192_adam_lr1e-3.yaml'
    yaml.write_text('MODEL:\n  NAME: pose_hrnet\n')
    with monkeypatch.context() as patch:
        patch.setattr(yacs_import, 'yacs_to_config', lambda path: Config.fromfile(CONFIG))
        cfg = train.build_config(train.parse_args([str(yaml)]))
    assert cfg.work_dir == osp.join('./work_dirs', 'w32_256x192_adam_lr1e-3')
    assert cfg.model.type == 'hrnet_toy.ToyModel'

    # the real converter: pose_hrnet without MODEL.EXTRA etc.
    with pytest.raises(ConfigError, match=r'w32_256x192_adam_lr1e-3.yaml: MODEL.EXTRA is missing'):
        train.build_config(train.parse_args([str(yaml)]))
    with pytest.raises(FileNotFoundError, match=r'config file not found: .*nope.py'):
        train.build_config(train.parse_args([str(tmp_path / 'nope.py')]))


def test_dump_without_outfile_prefix_uses_dump_results(tools):
    _, test = tools
    from mmengine.config import Config
    cfg = Config(dict(test_evaluator=dict(type='Accuracy')))
    assert test.apply_dump(cfg, 'out/res') == ['DumpResults: out/res.pkl']
    assert cfg.test_evaluator[-1] == dict(type='DumpResults', out_file_path='out/res.pkl')
    assert test.dump_prefix('a/b.keypoints.json') == 'a/b'
