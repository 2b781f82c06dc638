"""LIP (Look Into Person) human parsing: 20 classes, background included."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import DataError

from .paths import data_root_hint
from .seg_folder import SegFolderDataset, check_fixed_labels

# Class names and palette as open-mmlab/mmsegmentation mmseg/datasets/lip.py (LIPDataset); the
# ids are those of the LIP annotation PNGs (0 = background).
LIP_CLASSES = (
    'Background', 'Hat', 'Hair', 'Glove', 'Sunglasses', 'UpperClothes', 'Dress', 'Coat', 'Socks',
    'Pants', 'Jumpsuits', 'Scarf', 'Skirt', 'Face', 'Left-arm', 'Right-arm', 'Left-leg',
    'Right-leg', 'Left-shoe', 'Right-shoe')
LIP_PALETTE = (
    (0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0), (0, 0, 85),
    (0, 119, 221), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0),
    (0, 0, 255), (51, 170, 221), (0, 255, 255), (85, 255, 170), (170, 255, 85), (255, 255, 0),
    (255, 170, 0))
# Left/right class pairs a horizontal flip swaps, in the label map (RandomFlip) and in the
# logits of the flipped test view (EncoderDecoder test_cfg.flip_label_pairs): official HRNet
# lib/datasets/lip.py, left_idx [14, 16, 18] <-> right_idx [15, 17, 19].
LIP_FLIP_LABEL_PAIRS = ((14, 15), (16, 17), (18, 19))


@DATASETS.register_module()
class LIPDataset(SegFolderDataset):
    """LIP in its download layout, from its id lists or from the official HRNet list files.

    Layout (``data_root='data/LIP'``)::

        TrainVal_images/{train,val}_images/<id>.jpg
        TrainVal_images/{train,val}_id.txt                       one id per line (30462 / 10000)
        TrainVal_parsing_annotations/{train,val}_segmentations/<id>.png    class ids 0..19

    Samples come from, depending on ``ann_file``:

    - empty: every ``*.jpg`` below ``data_prefix['img_path']`` (e.g.
      ``TrainVal_images/train_images``) with the ``.png`` of the same stem below
      ``seg_map_path`` (``TrainVal_parsing_annotations/train_segmentations``);
    - an id list (``TrainVal_images/train_id.txt``): one stem per line, same folders;
    - an official HRNet list (``data/list/lip/{train,val,testval}List.txt``): lines
      ``train_images/<id>.jpg train_segmentations/<id>.png``, the image relative to ``img_path``
      (``TrainVal_images``) and the label relative to ``seg_map_path``
      (``TrainVal_parsing_annotations``), as the official ``lib/datasets/lip.py`` joins them.

    Every sample carries ``flip_label_pairs`` (``metainfo['flip_label_pairs']``, the left/right
    arm, leg and shoe ids), which ``RandomFlip`` swaps in a mirrored label map.

    Checks: those of ``SegFolderDataset`` (folders exist, listed images and label files exist,
    ``skip_invalid``); the list file exists and each line has one or two fields (``DataError``
    naming file and line). When loading, a label value above 19 (other than 255) is a
    ``DataError`` naming the file.

    Args:
        img_suffix, seg_map_suffix: '.jpg' and '.png' unless given.
        Others: see ``SegFolderDataset``; ``reduce_zero_label`` and ``label_map`` are not
            arguments (LIP labels are train ids, background 0 is a class).
    """

    METAINFO: dict = dict(classes=LIP_CLASSES, palette=list(LIP_PALETTE),
                          flip_label_pairs=[list(p) for p in LIP_FLIP_LABEL_PAIRS])

    def __init__(self, *, data_root: str = '', data_prefix: Optional[Mapping[str, str]] = None,
                 ann_file: str = '', metainfo: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> None:
        check_fixed_labels('LIPDataset', kwargs, metainfo, LIP_CLASSES,
                           'LIPDataset labels are train ids 0..19 (background is a class)')
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '.png')
        super().__init__(data_root=data_root, data_prefix=data_prefix, ann_file=ann_file,
                         metainfo=metainfo, **kwargs)

    def load_data_list(self) -> list[dict]:
        if not self.ann_file:
            return super().load_data_list()
        if not os.path.isfile(self.ann_file):
            raise DataError(f'LIPDataset: list file (ann_file) {self.ann_file} does not exist'
                            + data_root_hint(self.ann_file, self.data_root))
        with open(self.ann_file) as f:
            lines = [(no, line.split()) for no, line in enumerate(f, 1) if line.strip()]
        if not lines or len(lines[0][1]) == 1:
            return super().load_data_list()  # an id list: one stem per line
        return self._load_pair_list(lines)

    def _load_pair_list(self, lines: list[tuple[int, list[str]]]) -> list[dict]:
        """Samples of an official ``image label`` list file."""
        self._check_folders()
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix.get('seg_map_path')
        data_list, invalid = [], []
        for line_no, fields in lines:
            where = f'{self.ann_file}:{line_no}'
            if len(fields) != 2:
                raise DataError(f'{where}: expected "<image> <label>" like the first line, '
                                f'got {" ".join(fields)!r}')
            img_path = os.path.join(img_dir, fields[0])
            seg_map_path = os.path.join(seg_dir or '', fields[1])
            missing = [p for p in (img_path, seg_map_path if seg_dir is not None else None)
                       if p is not None and not os.path.isfile(p)]
            if missing:
                err = f'file not found: {missing[0]} (listed in {where})'
                if not self.skip_invalid:
                    raise DataError(err)
                invalid.append(err)
                continue
            info = dict(img_path=img_path, label_map=None, reduce_zero_label=False,
                        num_classes=self.num_classes)
            if seg_dir is not None:
                info['seg_map_path'] = seg_map_path
            data_list.append(info)
        return self._report_dropped(data_list, invalid, self.ann_file)

    def get_data_info(self, idx: int) -> dict:
        """The idx-th sample plus ``flip_label_pairs`` for ``RandomFlip``."""
        info = super().get_data_info(idx)
        info['flip_label_pairs'] = [list(p) for p in self._metainfo['flip_label_pairs']]
        return info
