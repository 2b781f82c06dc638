"""CombinedDataset: the bundled COCO tiny + AIC tiny in COCO's layout, and a short training run."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from hrnet_train.datasets import CocoKeypointDataset, CombinedDataset
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]
AIC_TO_COCO = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16),
               (9, 11), (10, 13), (11, 15)]
COCO = dict(type='CocoKeypointDataset', data_root=str(ROOT / 'data/coco_tiny'),
            ann_file='annotations/test_coco.json', data_prefix=dict(img='val2017/'))


def _aic(pipeline=({'type': 'KeypointConverter', 'num_keypoints': 17,
                    'mapping': AIC_TO_COCO},)):
    return dict(type='AicDataset', data_root=str(ROOT / 'data/aic_tiny'),
                ann_file='annotations/test_aic.json',
                data_prefix=dict(img='ai_challenger_keypoint_validation_20170911/'
                                 'keypoint_validation_images_20170911/'),
                pipeline=list(pipeline))


def test_lengths_add_up_and_samples_take_the_target_layout():
    register_all_modules()
    ds = CombinedDataset(metainfo=dict(from_dataset='CocoKeypointDataset'),
                         datasets=[COCO, _aic()],
                         pipeline=[dict(type='GetBBoxCenterScale', padding=1.25)])
    assert [len(d) for d in ds.datasets] == [12, 9] and len(ds) == 21
    assert ds.metainfo['num_keypoints'] == 17
    assert ds.metainfo['keypoint_names'] == CocoKeypointDataset.METAINFO['keypoint_names']
    assert ds.locate(11) == (0, 11) and ds.locate(12) == (1, 0) and ds.locate(-1) == (1, 8)
    coco = ds[3]
    np.testing.assert_array_equal(coco['keypoints'], ds.datasets[0].get_data_info(3)['keypoints'])
    aic_raw = ds.datasets[1].get_data_info(4)
    aic = ds[12 + 4]
    assert aic['dataset_index'] == 1 and aic['keypoints'].shape == (17, 2)
    np.testing.assert_array_equal(aic['keypoints'][6], aic_raw['keypoints'][0])
    assert aic['keypoints_visible'][:5].sum() == 0
    # the target metainfo replaces the converter's derived keys: COCO's eyes/ears swap
    assert aic['flip_indices'] == CocoKeypointDataset.METAINFO['flip_indices']
    assert aic['upper_body_ids'] == list(range(11))
    assert aic['bbox_scale'].shape == (2,)  # the shared pipeline ran
    with pytest.raises(IndexError):
        ds[21]


def test_explicit_metainfo_and_errors():
    register_all_modules()
    meta = dict(CocoKeypointDataset.METAINFO, dataset_name='coco_aic')
    ds = CombinedDataset(metainfo=meta, datasets=[_aic()], lazy_init=True)
    assert ds.metainfo['dataset_name'] == 'coco_aic' and len(ds) == 9
    with pytest.raises(ConfigError, match=r'datasets\[1\] \(AicDataset, .*test_aic.json\) yields '
                                          r'14 keypoints after its pipeline, the combined '
                                          r'metainfo has 17'):
        CombinedDataset(metainfo=dict(from_dataset='CocoKeypointDataset'),
                        datasets=[COCO, _aic(pipeline=())])
    with pytest.raises(ConfigError, match="from_dataset='Nope' is not a registered pose"):
        CombinedDataset(metainfo=dict(from_dataset='Nope'), datasets=[COCO])
    with pytest.raises(ConfigError, match='datasets is empty'):
        CombinedDataset(metainfo=meta, datasets=[])


class _Drop5:
    """A sub-pipeline step that breaks the layout after the (checked) converter."""

    def __call__(self, results):
        results['keypoints'] = results['keypoints'][:5]
        return results


def test_sample_with_wrong_keypoint_count_names_the_sub_dataset():
    register_all_modules()
    aic = _aic()
    aic['pipeline'] = aic['pipeline'] + [_Drop5()]
    ds = CombinedDataset(metainfo=dict(from_dataset='CocoKeypointDataset'),
                         datasets=[COCO, aic], test_mode=True)
    with pytest.raises(DataError, match=r'datasets\[1\] \(AicDataset.*\) sample 0 has keypoints '
                                        r'\(5, 2\) after its pipeline, expected \(\.\.\., 17, 2\)'):
        ds[12]


@pytest.mark.slow
def test_a_few_training_iterations_over_coco_and_aic(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    from hrnet_train.engine.launch import build_runner
    register_all_modules()
    cfg = Config.fromfile(str(ROOT / 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.batch_size = 7
    cfg.train_dataloader.dataset = dict(
        type='CombinedDataset', metainfo=dict(from_dataset='CocoKeypointDataset'),
        datasets=[COCO, _aic()], pipeline=cfg.train_pipeline)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=100)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=100)
    cfg.default_hooks.logger.interval = 1
    cfg.custom_hooks = []
    cfg.experiment_name = 'combined_train'
    runner = build_runner(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss_kpt').data[0]
    assert len(losses) == 6  # 21 people / 7 per batch x 2 epochs
    assert np.all(np.isfinite(losses)) and losses[0] > 0


def test_coco_aic_config_builds_on_the_tiny_data():
    register_all_modules()
    from hrnet_train.registry import DATASETS
    cfg = Config.fromfile(str(ROOT / 'configs/pose/hrnet-w48_coco-aic-384x288.py'))
    train = cfg.train_dataloader.dataset
    coco_cfg, aic_cfg = train.datasets
    coco_cfg.update(data_root=COCO['data_root'], ann_file=COCO['ann_file'],
                    data_prefix=COCO['data_prefix'])
    aic_cfg.update(data_root=_aic()['data_root'], ann_file=_aic()['ann_file'],
                   data_prefix=_aic()['data_prefix'])
    ds = DATASETS.build(train)
    assert len(ds) == 21
    sample = ds[12]  # the shared 384x288 training pipeline over an AIC person
    assert tuple(sample['inputs'].shape) == (3, 384, 288)
    assert tuple(sample['data_samples'].gt_heatmaps.shape) == (17, 96, 72)
    assert sample['data_samples'].keypoint_weights[:5].sum() == 0  # no AIC face joints
