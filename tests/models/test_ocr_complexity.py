"""Parameters and GFLOPs of HRNetV2-W48 + OCR (configs/seg/hrnetv2-w48-ocr_cityscapes-512x1024.py).

The HRNet-OCR README (HRNet/HRNet-Semantic-Segmentation, branch HRNet-OCR, @01ffd65) publishes no
parameter or GFLOPs figure for HRNet + OCR (its tables give mIoU only), and neither do
openseg.pytorch or mmsegmentation's OCRNet page. The reference is therefore the one official
table it extends: HRNetV2-W48 at 1024x2048, 65,859,379 parameters (README 65.8M) and 696.2
GFLOPs (tests/models/test_seg_complexity_flops.py), plus the OCR head counted by hand from
lib/models/seg_hrnet_ocr.py. ``aux_head`` has exactly the shape of the V2 ``last_layer`` (the
official init even copies last_layer -> aux_head), so the OCR model is V2 plus
conv3x3_ocr + ocr_distri_head + cls_head.

Convention (hrnet_train.utils.complexity, the official get_model_summary): conv and linear
multiply-adds / 1024**3. The OCR gather and attention are matrix products, not convs, so they
are not in the count: K*HW*512 + 2*HW*K*256 = 2.55e9 multiply-adds (2.4 GFLOPs) at 1024x2048.
"""
import math
from pathlib import Path

from mmengine.config import Config

from hrnet_train.utils import register_all_modules
from hrnet_train.utils.complexity import config_complexity

ROOT = Path(__file__).resolve().parents[2]
V2_PARAMS, V2_FLOPS = 65_859_379, 747_513_053_184  # official table, reproduced exactly
K, HW = 19, 256 * 512  # classes; stride-4 pixels of 1024x2048


def test_w48_ocr_params_and_flops_at_1024x2048():
    register_all_modules()
    cfg = Config.fromfile(ROOT / 'configs/seg/hrnetv2-w48-ocr_cityscapes-512x1024.py')
    cfg.model.backbone.init_cfg = None  # no ImageNet file needed
    c = config_complexity(cfg, (1024, 2048))  # meta device: shapes only
    # Extra parameters over V2: conv3x3_ocr 720*512*9 + 512 + 2*512; f_pixel, f_object
    # 2 x (512*256 + 256*256 + 4*256); f_down 512*256 + 2*256; f_up 256*512 + 2*512;
    # conv_bn_dropout 1024*512 + 2*512; cls_head 512*19 + 19.
    extra = (720 * 512 * 9 + 512 + 2 * 512 + 2 * (512 * 256 + 256 * 256 + 4 * 256)
             + 512 * 256 + 2 * 256 + 256 * 512 + 2 * 512 + 1024 * 512 + 2 * 512 + 512 * 19 + 19)
    assert c.params == V2_PARAMS + extra == 70_372_678
    assert math.floor(c.params / 1e5) / 10 == 70.3  # README-style truncation to 0.1M
    # Pixel convs run on HW pixels; f_object and f_down on the K region centres (a K x 1 map).
    extra_flops = ((720 * 512 * 9 + 512 * 256 + 256 * 256 + 256 * 512 + 1024 * 512 + 512 * K) * HW
                   + (512 * 256 + 256 * 256 + 512 * 256) * K)
    assert c.flops == V2_FLOPS + extra_flops == 1_295_328_935_936
    assert round(c.gflops, 1) == 1206.4  # / 1024**3
    assert round(c.gflops_1e9, 1) == 1295.3
