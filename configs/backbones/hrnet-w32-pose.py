# HRNet-W32 backbone as in the official pose model: the last module is single-output (V1).
default_scope = 'hrnet_train'
model = dict(type='HRNet', arch='w32', multi_scale_output=False)
