"""mmengine's CheckpointHook with the ``last_checkpoint`` pointer written atomically."""
from __future__ import annotations

import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from hrnet_train.registry import HOOKS

from ..checkpoint import LAST_CHECKPOINT_FILE, write_text_atomic


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose ``last_checkpoint`` file is replaced atomically.

    The checkpoint files themselves are written atomically by
    :meth:`hrnet_train.engine.Runner.save_checkpoint`. mmengine 0.10.7 rewrites the pointer in
    place (``open(..., 'w')``), so a crash at that moment leaves it empty; here it goes through
    ``<file>.tmp`` + ``os.replace``.
    """

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # Same bookkeeping as mmengine 0.10.7 (mmengine/hooks/checkpoint_hook.py).
        if self.max_keep_ckpts > 0:
            if not (len(self.keep_ckpt_ids) > 0 and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    old_step = self.keep_ckpt_ids.popleft()
                    if is_main_process():
                        old_path = self.file_backend.join_path(
                            self.out_dir, self.filename_tmpl.format(old_step))
                        if self.file_backend.isfile(old_path):
                            self.file_backend.remove(old_path)
                        elif self.file_backend.isdir(old_path):
                            self.file_backend.rmtree(old_path)
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if is_main_process():
            write_text_atomic(osp.join(runner.work_dir, LAST_CHECKPOINT_FILE), self.last_ckpt)
