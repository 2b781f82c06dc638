"""Tiny checkpoints of the quickstart models for the ONNX tests (random weights, random BN
statistics so that BN folding is not the identity), written once per session."""
from __future__ import annotations

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

CONFIGS = {
    'pose': 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py',
    'seg': 'configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py',
    'cls': 'configs/cls/hrnet-w18-small-v1_cls-tiny_quickstart.py',
}


def randomise_batchnorms(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BN non-trivial running statistics and affine parameters, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)


@pytest.fixture(scope='session')
def tiny_checkpoints(tmp_path_factory):
    """task -> (config path, checkpoint path) of a seeded random-init quickstart model."""
    from hrnet_train.apis import init_model
    out = {}
    root = tmp_path_factory.mktemp('ckpt')
    for i, (task, config) in enumerate(CONFIGS.items()):
        torch.manual_seed(i)
        model = init_model(config)
        if task == 'seg':  # the official init (std 0.001) gives one class everywhere
            for m in model.modules():
                if isinstance(m, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                                  nonlinearity='relu')
        randomise_batchnorms(model, seed=i)
        meta = dict(model.dataset_meta)
        if task == 'cls':  # what the runner saves: ImageFolderDataset's sorted class folders
            meta['classes'] = ['building', 'person', 'road']
        path = root / f'{task}.pth'
        torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), path)
        out[task] = (config, str(path))
    return out
