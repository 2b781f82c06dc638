# ImageNet-1k, 224x224 (HRNet/HRNet-Image-Classification tools/train.py): RandomResizedCrop 224 +
# flip for training; resize the short side to 256 and centre-crop 224 for validation.
# Layout under data_root (the one path to edit):
#   train/<wnid>/*.JPEG, val/<wnid>/*.JPEG  (or val/*.JPEG with a list file `path label`)
dataset_type = 'ImageFolderDataset'
data_root = 'data/imagenet/'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomResizedCrop', size=224),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackClsInputs'),
]
train_dataloader = dict(
    batch_size=32,  # per GPU; the official recipe is 4 GPUs x 32 = 128
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img='train'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img='val'),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
