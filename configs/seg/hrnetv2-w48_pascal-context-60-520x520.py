# HRNetV2-W48 on PASCAL-Context, 60 classes (background evaluated). There is no official plain
# HRNetV2 60-class 520x520 YAML; this uses the recipe of the 59-class 520x520 one and of the OCR
# 60-class one (HRNet/HRNet-Semantic-Segmentation HRNet-OCR: experiments/pascal_ctx/
# seg_hrnet_ocr_w48_cls60_520x520_sgd_lr1e-3_wd1e-4_bs_16_epoch200.yaml): 520x520 crops,
# batch 4 x 4 GPUs, SGD lr 0.001 (x10 on the head), momentum 0.9, wd 1e-4, 200 epochs, plain CE.
# README: 48.3 mIoU on val with multi-scale 0.5..2.0 + flip, from the master/pytorch-v1.1 recipe
# experiments/pascal_ctx/seg_hrnet_w48_cls60_480x480_sgd_lr4e-3_wd1e-4_bs_16_epoch200.yaml (480x480
# crops and test windows, lr 0.004 without head multiplier; otherwise the same).
_base_ = ['./hrnetv2-w48_pascal-context-59-520x520.py']
# Everything else (optimizer, x10 head lr, schedule, the multi-scale + flip test) is the 59-class
# recipe.
model = dict(decode_head=dict(num_classes=60))
train_dataloader = dict(dataset=dict(type='PascalContextDataset60'))
val_dataloader = dict(dataset=dict(type='PascalContextDataset60'))
test_dataloader = val_dataloader
