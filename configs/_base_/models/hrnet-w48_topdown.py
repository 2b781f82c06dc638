# HRNet-W48 top-down pose model (V1): leoxiaobin/deep-high-resolution-net.pytorch pose_hrnet.
# The experiment file supplies `codec` (input/heatmap size, sigma) with model=dict(codec=...).
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],  # ImageNet, RGB
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False),  # LoadImage already gives RGB
    backbone=dict(
        type='HRNet',
        arch='w48',
        multi_scale_output=False,  # official pose: last module single-output (63.6M)
        upsample_mode='nearest',
        # ImageNet weights: hrnet_w48-8ef0771d.pth from the official pose README
        init_cfg=None),
    # in_channels come from the backbone (48 at stride 4)
    head=dict(type='HeatmapHead', num_keypoints=17, final_conv_kernel=1),
    loss=dict(type='KeypointMSELoss', use_target_weight=True),
    codec=dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2),
    test_cfg=dict(flip_test=True, shift_heatmap=True))
