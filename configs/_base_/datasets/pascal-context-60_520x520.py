# PASCAL-Context, 60 classes (background is class 0 and is evaluated), 520x520 random crops.
# Same data recipe as pascal-context-59_520x520.py (HRNet/HRNet-Semantic-Segmentation HRNet-OCR:
# experiments/pascal_ctx/seg_hrnet_ocr_w48_cls60_520x520_*.yaml, NUM_CLASSES 60); only the label
# convention differs: labels are used as they are (no reduce_zero_label), so the mIoU is over the
# 60 classes, background included, and 255 is padding only.
_base_ = ['./pascal-context-59_520x520.py']
dataset_type = 'PascalContextDataset60'
train_dataloader = dict(dataset=dict(type=dataset_type))
val_dataloader = dict(dataset=dict(type=dataset_type))
test_dataloader = val_dataloader
