"""Working out the size a stack of layers produces, so classifier heads fit any input size."""
import numpy

import minifft


def flat_features(features, input_shape):
    """Number of features ``features`` outputs for one input of ``input_shape`` (C, H, W)."""
    with minifft.no_grad(), minifft.conv.using('direct'):  # a shape probe: nothing for auto to time
        probe = minifft.tensor(numpy.zeros((1,) + tuple(input_shape), numpy.float32))
        return int(numpy.prod(features(probe).shape[1:]))
