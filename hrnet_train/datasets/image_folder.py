"""Image classification from a folder per class, or from a list file (the ImageNet layouts).

Behaviour follows mmpretrain ``CustomDataset`` (open-mmlab/mmpretrain:mmpretrain/datasets/
custom.py) and torchvision ``ImageFolder``, with the checks of our other datasets added.
"""
from __future__ import annotations

import copy
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from hrnet_train.registry import DATASETS, TRANSFORMS
from hrnet_train.utils.errors import ConfigError, DataError

from .paths import data_root_hint

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.JPEG')
# How many offenders the one skip_invalid log line names.
_NUM_NAMED_OFFENDERS = 3


def _list_images(folder: str, extensions: tuple[str, ...]) -> tuple[list[str], Counter]:
    """Paths relative to ``folder`` of every image below it (recursively, sorted), and a count
    of the other files by extension.

    Args:
        extensions: lower-case endings; file names are compared in lower case.
    """
    found, other = [], Counter()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        rel_dir = os.path.relpath(dirpath, folder)
        for name in filenames:
            if name.lower().endswith(extensions):
                found.append(name if rel_dir == '.' else os.path.join(rel_dir, name))
            else:
                other[os.path.splitext(name)[1] or name] += 1
    return sorted(found), other


def _read_class_file(path: str) -> tuple[str, ...]:
    """Class names from a text file, one per line (blank lines skipped)."""
    if not os.path.isfile(path):
        raise DataError(f'class name file {path} (metainfo classes) not found')
    with open(path, encoding='utf-8') as f:
        return tuple(line.strip() for line in f if line.strip())


@DATASETS.register_module()
class ImageFolderDataset(BaseDataset):
    """Single-label classification: ``<img>/<class folder>/**/<image>`` or a list file.

    Folder layout (no ``ann_file``; torchvision ``ImageFolder``, the HRNet-Image-Classification
    layout ``images/{train,val}/<wnid>/*.JPEG``): the classes are the sorted names of the
    sub-folders of ``data_prefix['img']`` (names starting with "." are skipped), and an image's
    label is the index of its folder. Images are found recursively below each class folder,
    sorted; files in the image folder itself are not samples. With ``metainfo['classes']`` the
    classes, and their order, are those names: each must be a sub-folder, and other sub-folders
    are left out (one log line names them).

    List layout (``ann_file``; mmpretrain ``CustomDataset``, the ImageNet ``val.txt``): one
    sample per line, ``<path relative to data_prefix['img']> <label>``; the path may contain
    spaces (the label is the last field); blank lines are skipped. The class names must come
    from ``metainfo['classes']``.

    Extensions are matched case-insensitively (mmpretrain), so ``.JPEG`` in the default is
    redundant with ``.jpeg`` and kept for the contract's spelling.

    Checks (``DataError``, one line naming the folder or ``file:line``):

    - ``data_root`` and the image folder exist;
    - folder layout: there is at least one class folder; each class of ``metainfo['classes']``
      has a folder; each class folder holds an image with one of ``extensions``, else the error
      names the folder, the extensions and the most common other ending;
    - list layout: each line has a path and an integer label, the label is in
      ``[0, len(classes))`` and the image file exists;
    - the dataset is not empty.

    With ``skip_invalid=True`` an empty class folder or a bad list line is dropped instead, and
    one warning counts them and names the first few; a dropped class keeps its name and index
    in ``classes`` (the model's number of classes does not change), it just has no samples. An
    image that does not decode is an error of ``LoadImage`` when the sample is loaded.

    Args:
        data_root: root joined with ``data_prefix['img']``, ``ann_file`` and a class name file
            when they are relative.
        data_prefix: ``dict(img=folder)``: the folder holding the class folders, or the folder
            the list file's paths are relative to.
        ann_file: list file; '' for the folder layout.
        metainfo: ``classes``: names in label order, or the path of a text file with one name
            per line. Required with ``ann_file``. Other keys are kept as given.
        extensions: accepted image file endings (case-insensitive).
        pipeline: transform configs (built with ``hrnet_train`` TRANSFORMS) or callables.
        test_mode: as mmengine ``BaseDataset`` (no refetch of a failed sample).
        skip_invalid: drop empty class folders and bad list lines (see Checks) with one warning
            instead of raising on the first.
        serialize_data, lazy_init, indices, max_refetch: as mmengine ``BaseDataset``. With
            ``lazy_init`` the metainfo ``classes`` are final after ``full_init()``.

    Data info keys: ``img_path``, ``gt_label`` (int, index into ``metainfo['classes']``).
    Metainfo: ``classes`` (tuple of str).
    """

    METAINFO: dict = dict()

    def __init__(self, data_root: str = '', data_prefix: Mapping | None = None,
                 ann_file: str = '', *, metainfo: Mapping | None = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS, pipeline: Sequence = (),
                 test_mode: bool = False, skip_invalid: bool = False,
                 serialize_data: bool = True, lazy_init: bool = False,
                 indices: int | Sequence[int] | None = None, max_refetch: int = 1000) -> None:
        data_prefix = dict(img='') if data_prefix is None else dict(data_prefix)
        if set(data_prefix) != {'img'}:
            raise ConfigError(f'data_prefix: expected dict(img=<image folder>), got {data_prefix}')
        if not data_root and not data_prefix['img'] and not ann_file:
            raise ConfigError('ImageFolderDataset needs data_root or data_prefix img (the image '
                              'folder)')
        if isinstance(extensions, str) or not extensions or not all(
                isinstance(e, str) and e.startswith('.') for e in extensions):
            raise ConfigError(f'extensions: expected file endings such as (".jpg", ".png"), got '
                              f'{extensions!r}')
        self.extensions = tuple(dict.fromkeys(e.lower() for e in extensions))
        self.skip_invalid = bool(skip_invalid)
        # Built here with our registry so the dataset also works without a default scope.
        pipeline = [TRANSFORMS.build(dict(t)) if isinstance(t, Mapping) else t for t in pipeline]
        super().__init__(
            ann_file=ann_file, metainfo=metainfo, data_root=data_root, data_prefix=data_prefix,
            pipeline=pipeline, test_mode=test_mode, serialize_data=serialize_data,
            lazy_init=lazy_init, indices=indices, max_refetch=max_refetch)

    @classmethod
    def _load_metainfo(cls, metainfo: Mapping | None = None) -> dict:
        # mmengine's version reads any string value as a file; ours reads only ``classes``, in
        # load_data_list, where data_root is known.
        meta = copy.deepcopy(dict(cls.METAINFO))
        meta.update(copy.deepcopy(dict(metainfo or {})))
        classes = meta.get('classes')
        if classes is not None and not isinstance(classes, str):
            _check_class_names(classes)
            meta['classes'] = tuple(classes)
        return meta

    @property
    def num_classes(self) -> int:
        """Number of classes (after ``full_init()``)."""
        return len(self._metainfo['classes'])

    def get_cat_ids(self, idx: int) -> list[int]:
        """``[gt_label]`` of sample ``idx`` (what mmengine ``ClassBalancedDataset`` reads)."""
        return [int(self.get_data_info(idx)['gt_label'])]

    # ------------------------------------------------------------------ loading
    def load_data_list(self) -> list[dict]:
        if self.data_root and not os.path.isdir(self.data_root):
            raise DataError(f'data_root {self.data_root} does not exist (a folder)')
        img_dir = self.data_prefix['img']
        if img_dir and not os.path.isdir(img_dir):
            raise DataError(f'image folder {img_dir} (data_prefix img) does not exist')
        given = self._given_classes()
        if self.ann_file:
            if given is None:
                raise ConfigError(f'{type(self).__name__} with ann_file {self.ann_file} needs '
                                  'metainfo=dict(classes=(...)): the names of labels 0, 1, ...')
            self._metainfo['classes'] = given
            data_list, invalid = self._read_list_file(self.ann_file, img_dir, len(given))
            what, source = 'lines', self.ann_file
        else:
            data_list, invalid = self._scan_class_folders(img_dir, given)
            what, source = 'class folders', img_dir
        if invalid:
            named = '; '.join(invalid[:_NUM_NAMED_OFFENDERS])
            more = ' ...' if len(invalid) > _NUM_NAMED_OFFENDERS else ''
            print_log(f'{source}: skip_invalid dropped {len(invalid)} {what}: {named}{more}',
                      logger='current', level=logging.WARNING)
        if not data_list:
            why = ' (all dropped by skip_invalid)' if invalid else ''
            raise DataError(f'{source}: no sample{why}')
        return data_list

    def _given_classes(self) -> tuple[str, ...] | None:
        """``metainfo['classes']`` as names; a string is a file, joined with data_root."""
        classes = self._metainfo.get('classes')
        if isinstance(classes, str):
            path = classes
            if self.data_root and not os.path.isabs(path) and not os.path.isfile(path):
                path = os.path.join(self.data_root, path)
            classes = _read_class_file(path)
            if not classes:
                raise DataError(f'class name file {path} (metainfo classes) is empty')
            _check_class_names(classes)
        return classes

    def _scan_class_folders(self, img_dir: str,
                            given: tuple[str, ...] | None) -> tuple[list[dict], list[str]]:
        """Samples of the folder layout, and the problems skip_invalid dropped."""
        folders = sorted(e.name for e in os.scandir(img_dir or '.')
                         if e.is_dir() and not e.name.startswith('.'))
        if given is None:
            if not folders:
                raise DataError(f'image folder {img_dir} has no class sub-folders (expected '
                                '<img>/<class>/<image>; for a flat folder use ann_file)')
            classes = tuple(folders)
        else:
            present, wanted = set(folders), set(given)
            missing = [c for c in given if c not in present]
            if missing:
                raise DataError(f'image folder {img_dir} has no folder for the metainfo classes '
                                f'{missing[:5]}{" ..." if len(missing) > 5 else ""} '
                                f'({len(missing)} of {len(given)} missing)')
            extra = [f for f in folders if f not in wanted]
            if extra:
                print_log(f'{img_dir}: {len(extra)} sub-folders are not in metainfo classes and '
                          f'are left out: {extra[:5]}{" ..." if len(extra) > 5 else ""}',
                          logger='current', level=logging.INFO)
            classes = given
        self._metainfo['classes'] = classes
        data_list, invalid = [], []
        for label, name in enumerate(classes):
            folder = os.path.join(img_dir, name)
            files, other = _list_images(folder, self.extensions)
            if not files:
                hint = (f'; its {sum(other.values())} other files mostly end in '
                        f'"{other.most_common(1)[0][0]}": check extensions' if other
                        else '; it is empty')
                problem = (f'class folder {folder} holds no image ending in '
                           f'{", ".join(self.extensions)}{hint}')
                if not self.skip_invalid:
                    raise DataError(problem)
                invalid.append(problem)
                continue
            data_list += [dict(img_path=os.path.join(folder, f), gt_label=label) for f in files]
        return data_list, invalid

    def _read_list_file(self, path: str, img_dir: str,
                        num_classes: int) -> tuple[list[dict], list[str]]:
        """Samples of the list layout, and the problems skip_invalid dropped."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f'list file (ann_file) not found: {path}'
                                    + data_root_hint(path, self.data_root))
        data_list, invalid = [], []
        with open(path, encoding='utf-8') as f:
            for line_no, line in enumerate(f, 1):
                text = line.strip()
                if not text:
                    continue
                info, problem = _parse_list_line(text, img_dir, num_classes)
                if problem is None:
                    data_list.append(info)
                    continue
                problem = f'{path}:{line_no}: {problem}'
                if not self.skip_invalid:
                    raise DataError(problem)
                invalid.append(problem)
        return data_list, invalid


def _parse_list_line(text: str, img_dir: str, num_classes: int) -> tuple[dict | None, str | None]:
    """Data info of one stripped list-file line ``<path> <label>``, or why it is invalid."""
    fields = text.rsplit(maxsplit=1)  # the path may contain spaces (mmpretrain rsplit)
    if len(fields) != 2:
        return None, f'expected "<relative/path> <label>", got {text[:80]!r}'
    rel_path, label_text = fields
    try:
        label = int(label_text)
    except ValueError:
        return None, f'label {label_text[:20]!r} is not an integer (line {text[:80]!r})'
    if not 0 <= label < num_classes:
        return None, f'label {label} is outside [0, {num_classes}) ({num_classes} classes)'
    img_path = os.path.join(img_dir, rel_path)
    if not os.path.isfile(img_path):
        return None, f'image file not found: {img_path}'
    return dict(img_path=img_path, gt_label=label), None


def _check_class_names(classes) -> None:
    if isinstance(classes, str) or not all(isinstance(c, str) and c for c in classes):
        raise ConfigError(f'metainfo classes: expected class names (non-empty strings) or a file '
                          f'name, got {classes!r}'[:200])
    if not classes or len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if list(classes).count(c) > 1})
        raise ConfigError(f'metainfo classes: expected distinct names (at least one), got '
                          f'{len(classes)} names, repeated: {dup[:5]}')
