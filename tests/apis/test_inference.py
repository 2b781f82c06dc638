"""init_model / inference_topdown agree with the dataset + model path used by tools/test.py."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from hrnet_train.apis import inference_segmentor, inference_topdown, init_model
from hrnet_train.registry import DATASETS, MODELS

ROOT = Path(__file__).resolve().parents[2]
POSE_CFG = ROOT / 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py'


@pytest.fixture()
def pose_ckpt(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(POSE_CFG)).model)
    for p in model.parameters():  # O(1) weights so heatmaps are not flat
        torch.nn.init.normal_(p, std=0.05)
    path = tmp_path / 'pose.pth'
    torch.save({'meta': {'epoch': 1}, 'state_dict': model.state_dict()}, path)
    return path


def test_inference_topdown_equals_dataset_path(pose_ckpt):
    model = init_model(str(POSE_CFG), str(pose_ckpt))
    assert model.dataset_meta['flip_indices'][1] == 2
    cfg = model.cfg
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    sample = ds[0]
    ref = model.val_step(pseudo_collate([sample]))[0]
    box = sample['data_samples'].metainfo['bbox']
    out = inference_topdown(model, sample['data_samples'].metainfo['img_path'], [box])
    assert len(out) == 1
    np.testing.assert_allclose(out[0].pred_keypoints, ref.pred_keypoints, atol=1e-4)
    np.testing.assert_allclose(out[0].pred_keypoint_scores, ref.pred_keypoint_scores, atol=1e-6)
    # xywh input and whole-image default
    x1, y1, x2, y2 = box
    out2 = inference_topdown(model, sample['data_samples'].metainfo['img_path'],
                             [[x1, y1, x2 - x1, y2 - y1]], bbox_format='xywh')
    np.testing.assert_allclose(out2[0].pred_keypoints, ref.pred_keypoints, atol=1e-4)
    whole = inference_topdown(model, np.zeros((50, 40, 3), np.uint8))
    assert whole[0].pred_keypoints.shape == (17, 2)
    with pytest.raises(ValueError, match='uint8 RGB array'):
        inference_topdown(model, np.zeros((5, 5), np.float32))


def test_demo_tool_writes_image(pose_ckpt, tmp_path):
    out = tmp_path / 'demo.jpg'
    proc = subprocess.run([sys.executable, 'tools/demo/topdown_demo.py', str(POSE_CFG),
                           str(pose_ckpt), 'data/coco_tiny/val2017/000000196141.jpg',
                           '--bbox-file',
                           'data/coco_tiny/person_detection_results/test_coco_det_AP_H_56.json',
                           '--image-id', '196141', '--bbox-thr', '0.9', '--out', str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert out.is_file() and 'pose(s) drawn' in proc.stdout


def test_inference_segmentor_on_real_frame(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg_path = ROOT / 'configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py'
    model = init_model(str(cfg_path))
    img = 'data/cityscapes_tiny/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png'
    out = inference_segmentor(model, img)
    assert tuple(out.pred_seg_map.shape[-2:]) == (128, 256)
    assert int(out.pred_seg_map.max()) < 19


SEG_CFG = ROOT / 'configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py'


def test_init_model_loads_an_official_pose_release_strictly(pose_ckpt, tmp_path):
    """Released pose_hrnet_*.pth: a plain dict of bare backbone keys + final_layer.*."""
    from hrnet_train.utils.safe_load import safe_torch_load
    ours = safe_torch_load(pose_ckpt)['state_dict']
    official = {k.split('.', 1)[1]: v for k, v in ours.items()}
    path = tmp_path / 'pose_hrnet_w18_small.pth'
    torch.save(official, path)
    ref = init_model(str(POSE_CFG), str(pose_ckpt))
    model = init_model(str(POSE_CFG), str(path))
    for k, v in ours.items():
        assert torch.equal(model.state_dict()[k], v), k
    x = torch.randn(1, 3, 128, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)
    assert model.dataset_meta['flip_indices'] == ref.dataset_meta['flip_indices']


def test_init_model_takes_dataset_meta_from_the_checkpoint(pose_ckpt, tmp_path):
    from hrnet_train.utils.safe_load import safe_torch_load
    ckpt = safe_torch_load(pose_ckpt)
    ckpt['meta']['dataset_meta'] = dict(dataset_name='mine', flip_indices=list(range(17)),
                                        sigmas=np.full(17, 0.05))
    path = tmp_path / 'with_meta.pth'
    torch.save(ckpt, path)
    model = init_model(str(POSE_CFG), str(path))
    assert model.dataset_meta['dataset_name'] == 'mine'


def test_init_model_rejects_a_checkpoint_of_another_task(tmp_path, monkeypatch):
    from hrnet_train.utils.errors import CheckpointError
    monkeypatch.chdir(ROOT)
    seg = init_model(str(SEG_CFG))
    path = tmp_path / 'seg.pth'
    torch.save({'meta': {}, 'state_dict': seg.state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"seg.pth does not fit TopdownPoseEstimator .*"
                                              r"missing from the file: head.final_layer.weight.*"
                                              r"the file holds decode_head.\* \(segmentation\)"):
        init_model(str(POSE_CFG), str(path))
