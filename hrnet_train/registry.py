"""Every registry of hrnet-train, each a child of mmengine's root registry.

Components register under the scope ``hrnet_train``; configs set ``default_scope='hrnet_train'``
so that ``Runner.from_cfg`` finds them. ``locations`` are imported lazily on the first build,
which is what registers the classes.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = 'hrnet_train'

MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['hrnet_train.models'], scope=SCOPE)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['hrnet_train.models'],
    scope=SCOPE)
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['hrnet_train.engine'], scope=SCOPE)
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, locations=['hrnet_train.datasets'], scope=SCOPE)
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS,
    locations=['hrnet_train.datasets', 'hrnet_train.engine'], scope=SCOPE)
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['hrnet_train.datasets.transforms'],
    scope=SCOPE)
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, locations=['hrnet_train.evaluation'], scope=SCOPE)
EVALUATOR = Registry(
    'evaluator', parent=MMENGINE_EVALUATOR, locations=['hrnet_train.evaluation'], scope=SCOPE)
HOOKS = Registry('hook', parent=MMENGINE_HOOKS,
                 locations=['hrnet_train.engine', 'hrnet_train.visualization'], scope=SCOPE)
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['hrnet_train.engine'], scope=SCOPE)
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['hrnet_train.engine'], scope=SCOPE)
OPTIMIZERS = Registry(
    'optimizer', parent=MMENGINE_OPTIMIZERS, locations=['hrnet_train.engine'], scope=SCOPE)
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['hrnet_train.engine'], scope=SCOPE)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['hrnet_train.engine'], scope=SCOPE)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=['hrnet_train.engine'],
    scope=SCOPE)
LOG_PROCESSORS = Registry(
    'log_processor', parent=MMENGINE_LOG_PROCESSORS, locations=['hrnet_train.engine'], scope=SCOPE)
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['hrnet_train.visualization'],
    scope=SCOPE)
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, locations=['hrnet_train.visualization'],
    scope=SCOPE)
# Detection helpers: anchor generators, box coders, assigners, samplers (mmdet 3.x's TASK_UTILS).
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, locations=['hrnet_train.models'],
                      scope=SCOPE)
# Keypoint codecs (heatmap encoders/decoders) have no mmengine counterpart.
KEYPOINT_CODECS = Registry('keypoint codec', locations=['hrnet_train.codecs'], scope=SCOPE)
