"""Data sets by name, each as float32 images (n, C, H, W) in [0, 1] and int64 labels.

    shapes   built in, procedurally generated (no files): the default
    mnist    standard IDX files from --data-dir
    cifar10  standard pickle batches (cifar-10-batches-py) from --data-dir
    digits   scikit-learn's bundled 8x8 digits, scaled to 32x32 (needs scikit-learn)
"""
from dataclasses import dataclass

from . import cifar10, digits, mnist, shapes
from .errors import DatasetError
from .loader import DataLoader, channel_stats, random_crop_flip

NAMES = ('shapes', 'mnist', 'cifar10', 'digits')
FILE_BASED = ('mnist', 'cifar10')
BUILT_IN = {'shapes': 'generated', 'digits': "scikit-learn's bundled data"}


@dataclass
class Dataset:
    name: str
    train: tuple
    test: tuple
    num_classes: int
    augment: object = None

    @property
    def input_shape(self):
        return tuple(self.train[0].shape[1:])


def load(name, data_dir=None, seed=0, limit=None):
    """The train and test splits of ``name``; ``limit`` keeps the first ``limit`` of each."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DatasetError(f"limit: expected a whole number of images >= 1, got {limit!r}")
    if data_dir is not None and name not in FILE_BASED:
        raise DatasetError(f"{name}: takes no data directory (it is {BUILT_IN.get(name, 'built in')}), "
                           f"but got {data_dir}")
    if name == 'shapes':
        train, test = shapes.load(seed=seed)
    elif name == 'digits':
        train, test = digits.load(seed=seed)
    elif name in FILE_BASED:
        if data_dir is None:
            raise DatasetError(f"{name}: give the directory holding its files with --data-dir")
        train, test = (mnist if name == 'mnist' else cifar10).load(data_dir)
    else:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {NAMES}")
    if limit is not None:
        train, test = (tuple(a[:limit] for a in train), tuple(a[:limit] for a in test))
    for split, (images, _) in (('train', train), ('test', test)):
        if len(images) == 0:
            raise DatasetError(f"{name}: the {split} split is empty")
    num_classes = 10 if name != 'shapes' else len(shapes.CLASSES)
    augment = random_crop_flip if name == 'cifar10' else None
    return Dataset(name, train, test, num_classes, augment)


__all__ = ['Dataset', 'DatasetError', 'DataLoader', 'FILE_BASED', 'NAMES', 'channel_stats', 'load', 'random_crop_flip']
