# HRNet-W32 backbone alone, all four branches (V2/V2p/cls representation input).
# python tools/analysis/get_flops.py configs/backbones/hrnet-w32.py --shape 256 192
default_scope = 'hrnet_train'
model = dict(type='HRNet', arch='w32')
