"""Register every hrnet-train component and make ``hrnet_train`` the default registry scope."""
from __future__ import annotations

import datetime
import warnings


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every package that registers components, then optionally set the default scope.

    Importing is what registers: each package ``__init__`` imports its modules explicitly.

    Args:
        init_default_scope: make ``hrnet_train`` the current mmengine ``DefaultScope`` so that
            ``type='Name'`` resolves in our registries first (then mmengine's). When another scope
            is current, a uniquely named ``hrnet_train-<timestamp>`` instance is created, as
            mmengine's downstream projects do.
    """
    import hrnet_train.codecs  # noqa: F401
    import hrnet_train.datasets  # noqa: F401
    import hrnet_train.engine  # noqa: F401
    import hrnet_train.evaluation  # noqa: F401
    import hrnet_train.models  # noqa: F401
    import hrnet_train.visualization  # noqa: F401

    if not init_default_scope:
        return
    from mmengine.registry import DefaultScope

    never_created = (DefaultScope.get_current_instance() is None
                     or not DefaultScope.check_instance_created('hrnet_train'))
    if never_created:
        DefaultScope.get_instance('hrnet_train', scope_name='hrnet_train')
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope.scope_name != 'hrnet_train':
        warnings.warn('The current default scope '
                      f'"{current_scope.scope_name}" is not "hrnet_train", '
                      '`register_all_modules` will force the current '
                      'default scope to be "hrnet_train".')
        # Avoid a name clash with an existing instance.
        new_instance_name = f'hrnet_train-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='hrnet_train')
