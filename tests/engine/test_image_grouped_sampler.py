"""ImageGroupedSampler: every instance once per epoch, the instances of an image adjacent, ranks
in contiguous chunks, O(1) positions for resume."""
import pytest

from hrnet_train.engine import ImageGroupedSampler
from hrnet_train.engine.samplers import image_groups


class Records:
    """len(images) records; record i is of image images[i]."""

    def __init__(self, images):
        self.images = list(images)

    def __len__(self):
        return len(self.images)

    def get_data_info(self, i):
        return dict(img_path=self.images[i])


# 10 images, 1 to 4 instances each, not in index order
IMAGES = [f'{k}.jpg' for k in (0, 0, 1, 2, 2, 2, 3, 4, 4, 1, 5, 6, 6, 6, 6, 7, 8, 9, 9, 3)]


def _sampler(rank=0, world_size=1, **kw):
    s = ImageGroupedSampler(Records(IMAGES), seed=5, **kw)
    s.rank, s.world_size = rank, world_size
    return s


def _runs(order):
    """The images of `order` as runs: [(image, count), ...]."""
    runs = []
    for i in order:
        if runs and runs[-1][0] == IMAGES[i]:
            runs[-1][1] += 1
        else:
            runs.append([IMAGES[i], 1])
    return runs


def test_image_groups_in_index_order():
    groups = image_groups(Records(IMAGES))
    assert groups[:3] == [[0, 1], [2, 9], [3, 4, 5]]
    assert sorted(i for g in groups for i in g) == list(range(len(IMAGES)))


@pytest.mark.parametrize('shuffle', [True, False])
def test_each_epoch_is_a_permutation_with_the_images_whole(shuffle):
    s = _sampler(shuffle=shuffle)
    orders = []
    for epoch in range(3):
        s.set_epoch(epoch)
        order = list(s)
        assert sorted(order) == list(range(len(IMAGES))) and len(s) == len(IMAGES)
        runs = _runs(order)
        assert len(runs) == 10  # each image's instances adjacent
        assert {img: n for img, n in runs} == {img: IMAGES.count(img) for img in set(IMAGES)}
        orders.append(order)
    if shuffle:
        assert orders[0] != orders[1] != orders[2]
        s.set_epoch(1)
        assert list(s) == orders[1]  # seeded with seed + epoch
        other = ImageGroupedSampler(Records(IMAGES), seed=6)
        other.set_epoch(1)
        assert list(other) != orders[1]
    else:
        assert orders[0] == [i for g in image_groups(Records(IMAGES)) for i in g]


@pytest.mark.parametrize('world_size', [2, 3, 7])
@pytest.mark.parametrize('round_up', [True, False])
def test_ranks_take_contiguous_chunks(world_size, round_up):
    full = _sampler()
    full.set_epoch(4)
    order = list(full)
    chunks = []
    for rank in range(world_size):
        s = _sampler(rank, world_size, round_up=round_up)
        s.set_epoch(4)
        chunk = list(s)
        assert len(chunk) == len(s)
        chunks.append(chunk)
    merged = [i for c in chunks for i in c]
    n = len(IMAGES)
    if round_up:
        per = -(-n // world_size)
        assert {len(c) for c in chunks} == {per}
        assert merged == (order * 2)[:per * world_size]  # padded with the order's own start
    else:
        assert merged == order
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1


def test_set_position_skips_once():
    s = _sampler(1, 3)
    s.set_epoch(2)
    full = list(s)
    s.set_position(4)
    assert list(s) == full[4:]
    assert list(s) == full
    with pytest.raises(ValueError, match='position must be >= 0'):
        s.set_position(-1)


def test_datasets_it_cannot_group_are_named():
    with pytest.raises(ValueError, match='list has no get_data_info'):
        ImageGroupedSampler(list(range(4)), seed=0)

    class NoPath(Records):
        def get_data_info(self, i):
            return dict(img_id=i)

    with pytest.raises(ValueError, match=r"NoPath.get_data_info\(0\) has no 'img_path' "
                                         r'\(keys: img_id\)'):
        ImageGroupedSampler(NoPath(IMAGES), seed=0)
    assert len(ImageGroupedSampler(NoPath(IMAGES), seed=0, key='img_id')) == len(IMAGES)
    with pytest.raises(ValueError, match='non-empty dataset'):
        ImageGroupedSampler(Records([]), seed=0)


def test_grouped_coco_config_decodes_each_bundled_image_once(monkeypatch):
    """configs/pose/hrnet-w32_coco-256x192_grouped.py on the bundled COCO images: one epoch of
    12 persons in 4 images is 4 JPEG decodes, and each batch is well formed."""
    from pathlib import Path

    import cv2
    from mmengine.config import Config

    import hrnet_train.datasets.transforms.loading as loading
    from hrnet_train.engine import Runner
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    root = Path(__file__).resolve().parents[2]
    cfg = Config.fromfile(str(root / 'configs/pose/hrnet-w32_coco-256x192_grouped.py'))
    loader_cfg = cfg.train_dataloader.to_dict()
    loader_cfg.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader_cfg['dataset'].update(data_root=str(root / 'data/coco_tiny'),
                                 ann_file='annotations/test_coco.json',
                                 data_prefix=dict(img='val2017/'))
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    assert isinstance(loader.sampler, ImageGroupedSampler)
    decodes = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(loading.cv2, 'imdecode',
                        lambda data, flag: decodes.append(flag) or real_imdecode(data, flag))
    paths = []
    for batch in loader:
        assert tuple(batch['inputs'][0].shape) == (3, 256, 192)
        assert tuple(batch['data_samples'][0].gt_heatmaps.shape) == (17, 64, 48)
        paths += [s.img_path for s in batch['data_samples']]
    assert len(paths) == len(loader.dataset) == 12
    runs = [p for k, p in enumerate(paths) if k == 0 or paths[k - 1] != p]
    assert len(runs) == len(set(paths)) == 4
    # one decode per image, except when two crops of an image need different reductions
    assert 4 <= len(decodes) <= 5
