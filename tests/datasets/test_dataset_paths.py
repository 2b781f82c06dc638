"""A missing file that data_root was joined to says so, for every dataset that reads one."""
import os.path as osp
import shutil

import pytest

from hrnet_train.datasets import (
    CityscapesDataset,
    CocoDetection,
    CocoKeypointDataset,
    ImageFolderDataset,
    LIPDataset,
    MPIIDataset,
    PascalContextDataset,
)
from hrnet_train.datasets.paths import data_root_hint

REPO = osp.join(osp.dirname(__file__), '..', '..')
CITYSCAPES = osp.join(REPO, 'data', 'cityscapes_tiny')


def test_hint_only_when_data_root_was_joined():
    assert data_root_hint('data/x/data/x/a.json', 'data/x').startswith(
        " (relative paths in a dataset config are joined to data_root 'data/x'")
    assert data_root_hint('data/x/a.json', 'data/x') != ''  # joined, whatever the rest says
    assert data_root_hint('/abs/a.json', 'data/x') == ''
    assert data_root_hint('data/xy/a.json', 'data/x') == ''  # a prefix of the name is not a join
    assert data_root_hint('data/x/a.json', '') == ''
    assert data_root_hint('data/x/a.json', None) == ''


@pytest.mark.parametrize('build', [
    lambda root, ann: CocoKeypointDataset(ann, data_root=root, data_prefix=dict(img='')),
    lambda root, ann: CocoDetection(ann, data_root=root, data_prefix=dict(img='')),
    lambda root, ann: MPIIDataset(ann, data_root=root, data_prefix=dict(img='')),
    lambda root, ann: CityscapesDataset(data_root=root, ann_file=ann),
    lambda root, ann: LIPDataset(data_root=root, ann_file=ann),
    lambda root, ann: PascalContextDataset(data_root=root, ann_file=ann),
    lambda root, ann: ImageFolderDataset(data_root=root, ann_file=ann,
                                         metainfo=dict(classes=('a', 'b'))),
], ids=['coco_keypoints', 'coco_detection', 'mpii', 'cityscapes', 'lip', 'pascal_context',
        'image_folder'])
def test_a_path_given_from_the_repo_root_names_the_join(tmp_path, monkeypatch, build):
    root = tmp_path / 'data' / 'set'
    root.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    # The user's mistake: a path written from the working directory, not from data_root.
    with pytest.raises((FileNotFoundError, ValueError)) as err:
        build('data/set', 'data/set/annotations/train.json')
    msg = str(err.value)
    assert 'data/set/data/set/annotations/train.json' in msg
    assert "joined to data_root 'data/set'" in msg
    assert '\n' not in msg
    # An absolute path is not joined, and the message has no hint.
    with pytest.raises((FileNotFoundError, ValueError)) as err:
        build('data/set', str(tmp_path / 'nowhere.json'))
    assert 'nowhere.json' in str(err.value) and 'joined' not in str(err.value)


def test_official_cityscapes_list_beside_data_root(tmp_path, monkeypatch):
    """The official HRNet layout (data/list/ beside data/cityscapes/) as segmentation.md says."""
    shutil.copytree(CITYSCAPES, tmp_path / 'data' / 'cityscapes')
    (tmp_path / 'data' / 'list' / 'cityscapes').mkdir(parents=True)
    img = 'leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png'
    label = 'gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelIds.png'
    (tmp_path / 'data' / 'list' / 'cityscapes' / 'val.lst').write_text(f'{img}\t{label}\n')
    monkeypatch.chdir(tmp_path)
    ds = CityscapesDataset(data_root='data/cityscapes', ann_file='../list/cityscapes/val.lst')
    assert len(ds) == 1
    info = ds.get_data_info(0)
    assert info['img_path'] == osp.join('data/cityscapes', img)
    assert info['seg_map_path'] == osp.join('data/cityscapes', label)
