"""Registries: scope, lazy locations, building from a config file."""
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hrnet_train import registry


def test_registries_are_children_with_scope():
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS', 'LOOPS', 'RUNNERS',
                 'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS', 'VISUALIZERS'):
        reg = getattr(registry, name)
        assert reg.scope == 'hrnet_train', name
        assert reg.parent is not None, name


def test_build_backbone_from_config_file(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("default_scope = 'hrnet_train'\n"
                        "model = dict(type='HRNet', arch='w18-small-v2', "
                        "upsample_mode='bilinear')\n")
    cfg = Config.fromfile(cfg_file)
    init_default_scope(cfg.default_scope)
    model = registry.MODELS.build(cfg.model)
    assert type(model).__name__ == 'HRNet'
    assert model.out_channels == (18, 36, 72, 144)
    # mmengine's root registry finds it through the scope, as Runner.from_cfg does
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('hrnet_train'):
        assert type(ROOT_MODELS.build(cfg.model)).__name__ == 'HRNet'
