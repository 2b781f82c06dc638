from .det import draw_detections  # noqa: F401
from .det_vis_hook import DetVisualizationHook  # noqa: F401
from .legend import draw_legend  # noqa: F401
from .pose import draw_pose  # noqa: F401
from .pose_vis_hook import PoseVisualizationHook  # noqa: F401
from .seg import colorize_seg_map, overlay  # noqa: F401
from .seg_vis_hook import SegVisualizationHook  # noqa: F401
