"""Pure evaluation maths: OKS, NMS, PCK / AUC / EPE / NME, confusion areas and the pycocotools
wrapper."""
from .coco_eval import (
                        BOX_STAT_NAMES,
                        COCO_STAT_NAMES,
                        KEYPOINT_STAT_NAMES,
                        evaluate_coco_results,
                        format_coco_stats,
                        load_coco_gt,
                        zero_coco_stats,
)
from .confusion import intersect_and_union, summarize_areas
from .crowdpose import CROWDPOSE_STAT_NAMES, evaluate_crowdpose_results  # noqa: F401
from .nms import box_iou, nms, oks_nms, soft_oks_nms
from .oks import COCO_KEYPOINT_SIGMAS, compute_oks, resolve_sigmas
from .pck import (
                        compute_keypoint_auc,
                        compute_keypoint_epe,
                        compute_keypoint_nme,
                        compute_keypoint_pair_distance,
                        heatmap_pck_accuracy,
                        pck_accuracy,
)
from .pckh import MPII_PCKH_TABLE_NAMES, evaluate_mpii_pckh  # noqa: F401

__all__ = [
    'BOX_STAT_NAMES', 'COCO_STAT_NAMES', 'KEYPOINT_STAT_NAMES', 'COCO_KEYPOINT_SIGMAS',
    'evaluate_coco_results', 'format_coco_stats', 'load_coco_gt', 'zero_coco_stats', 'box_iou',
    'nms', 'oks_nms', 'soft_oks_nms', 'compute_oks', 'resolve_sigmas', 'heatmap_pck_accuracy',
    'pck_accuracy', 'compute_keypoint_auc', 'compute_keypoint_epe', 'compute_keypoint_nme',
    'compute_keypoint_pair_distance', 'intersect_and_union', 'summarize_areas'
]
