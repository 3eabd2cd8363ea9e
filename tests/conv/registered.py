"""The algorithms the reference tests run: every registered one, read at collection time, so an
algorithm registered before collection (see test_registry.py) is tested everywhere."""
import pytest

from minifft import backend, conv


def algorithms():
    return list(conv.names())


def geometry(x_shape, w_shape, stride=1, padding=0, groups=1, dilation=1):
    """The ConvGeometry F.conv2d builds for these shapes and arguments (padding may be 'same')."""
    from minifft.conv import ConvGeometry
    from minifft.functions._validation import pair
    from minifft.functions.convolution import same_padding
    kernel, dilation = tuple(w_shape[2:]), pair('geometry', 'dilation', dilation)
    padding = same_padding(kernel, dilation)[0] if padding == 'same' else pair('geometry', 'padding', padding)
    return ConvGeometry(x_shape[0], x_shape[1], w_shape[0], x_shape[2], x_shape[3], *kernel,
                        *pair('geometry', 'stride', stride), *padding, groups, *dilation)


def require(algo, device, x_shape=None, w_shape=None, **conv_args):
    """Skip unless ``algo`` runs on ``device`` (e.g. the cuBLAS product is GPU-only) and, given the
    layer's x and w shapes and conv2d's stride/padding/groups/dilation, supports that layer
    (winograd takes only 3x3 stride-1 layers without groups or dilation)."""
    if algo not in conv.names(device):
        pytest.skip(f"{algo} does not run on {device}")
    if x_shape is not None:
        g = geometry(x_shape, w_shape, **conv_args)
        if not conv.get(algo).supports(g, device):
            pytest.skip(f"{algo} does not support {g.describe()}")


def arrays_on(device, *arrays):
    return [backend.to_device(a, device) for a in arrays]
