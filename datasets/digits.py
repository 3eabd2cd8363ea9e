"""scikit-learn's bundled 8x8 handwritten digits (1797 images), scaled up 4x to 32x32 so the
same convolutional models apply; a fixed 80/20 train/test split from the seed."""
import numpy

from .errors import DatasetError


def load(seed=0):
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise DatasetError("digits: needs scikit-learn, which is not installed: pip install scikit-learn "
                           "(or from the repository: pip install -e '.[digits]'), or pick --dataset shapes") from error
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(numpy.float32)
    images = images.repeat(4, axis=1).repeat(4, axis=2)[:, None]   # (n, 1, 32, 32)
    labels = bunch.target.astype(numpy.int64)
    order = numpy.random.default_rng(seed).permutation(len(labels))
    cut = int(0.8 * len(labels))
    train, test = order[:cut], order[cut:]
    return (images[train], labels[train]), (images[test], labels[test])
