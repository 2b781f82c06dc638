"""Where the configs live: the copy inside an installed wheel, else the repository's configs/.

``configs/`` in the repository is the one source of truth. ``setup.py`` copies it into the wheel
as ``hrnet_train/_configs`` at build time; an editable install or a source checkout has no such
copy and reads ``<repo>/configs`` in place.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../hrnet_train
PACKAGED_CONFIGS_DIR = '_configs'  # name under hrnet_train/ in a wheel; setup.py writes it


def config_root() -> Path:
    """The folder that holds ``_base_/``, ``pose/``, ``seg/``, ... .

    Returns:
        ``hrnet_train/_configs`` when the package was installed from a wheel, otherwise the
        ``configs/`` folder next to the ``hrnet_train`` package (source checkout, editable
        install).

    Raises:
        FileNotFoundError: neither exists; the message names both places.
    """
    packaged = _PACKAGE_DIR / PACKAGED_CONFIGS_DIR
    if packaged.is_dir():
        return packaged
    repository = _PACKAGE_DIR.parent / 'configs'
    if repository.is_dir():
        return repository
    raise FileNotFoundError(f'hrnet-train configs not found: neither {packaged} (installed '
                            f'wheel) nor {repository} (source checkout) exists')
