"""train_summary: the lines tools/train.py prints at the end, from what the hooks record."""
from types import SimpleNamespace

from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub

from hrnet_train.engine.train_summary import train_summary


def _runner(hooks, **info):
    hub = MessageHub.get_instance('test_train_summary_' + '_'.join(sorted(info)))
    for k, v in info.items():
        hub.update_info(k, v)
    return SimpleNamespace(message_hub=hub, hooks=hooks)


def test_summary_with_one_best_metric_and_visualisations():
    hook = CheckpointHook(interval=1, save_best='coco/AP', rule='greater')
    vis = SimpleNamespace(last_out_dir='work_dirs/x/vis/val_epoch30')
    runner = _runner([hook, vis, SimpleNamespace(last_out_dir=None)], best_score=0.71234,
                     best_ckpt='work_dirs/x/best_coco_AP_epoch_30.pth',
                     last_ckpt='work_dirs/x/epoch_30.pth')
    assert train_summary(runner, 3725.4) == [
        'best coco/AP: 0.7123 (work_dirs/x/best_coco_AP_epoch_30.pth)',
        'last checkpoint: work_dirs/x/epoch_30.pth',
        'wall time: 1:02:05',
        'visualisations: work_dirs/x/vis/val_epoch30',
    ]


def test_summary_with_two_metrics_and_nothing_written():
    hook = CheckpointHook(interval=1, save_best=['mIoU', 'aAcc'], rule='greater')
    runner = _runner([hook], best_score_mIoU=55.5, best_ckpt_mIoU='w/best_mIoU_iter_30.pth')
    assert train_summary(runner, 59.6) == [
        'best mIoU: 55.5000 (w/best_mIoU_iter_30.pth)',
        'best aAcc: not evaluated',
        'last checkpoint: none written',
        'wall time: 0:01:00',
        'visualisations: none written',
    ]
    assert train_summary(_runner([]), 0)[0] == 'last checkpoint: none written'
