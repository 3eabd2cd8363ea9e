"""Convolution algorithms behind one function: ``conv2d(..., algo=<registered name> | 'auto')``.

The contract every algorithm implements is ``base.ConvAlgorithm``; ``registry.register`` makes one
known to everything (F.conv2d, nn.Conv2d, auto, train.py, the benchmarks, the reference tests).
Registered here:

    'fft'         Chunked(Dilated(Polyphase(FFTConvolution())))
                  product: BLAS on the CPU, RawKernel on the GPU
    'fft-cublas'  the same with the cuBLAS product (xp.matmul on bins-first spectra); GPU only
    'fft-tiled'   Chunked(Dilated(Polyphase(TiledFFT())))  the fft on tiles of a small transform size
                  (overlap-save / overlap-add, tiled.py): the transform follows the kernel, not the image
    'direct'      Chunked(DirectConvolution())  im2col + GEMM (dilation native: taps d apart), split by
                  batch under the limit
    'winograd'    Chunked(WinogradConvolution())  F(4x4, 3x3) / F(2x2, 3x3) for 3x3 stride-1 layers
                  (winograd.py): the fft's three formulas with a small real transform

Polyphase turns strided layers into stride-1 layers over phases; Dilated runs a dilated layer with
the kernel written dilated; Chunked splits a layer so its workspace stays under the limit (every
registered algorithm respects it, so auto never times one that cannot fit). All wrap any algorithm.
"""
import warnings

from .. import config
from . import auto, profiler, registry, timing
from .base import PASSES, ConvAlgorithm, OpCount, Workspace, training_step
from .chunking import Chunked
from .dilation import Dilated
from .direct import DirectConvolution
from .fft import FFTConvolution, spectral_bytes
from .geometry import ConvGeometry
from .polyphase import Polyphase
from .tiled import TiledFFT
from .winograd import WinogradConvolution
from .registry import candidates, check_name, choices, get, names, register, unregister
from .workspace import set_workspace_limit, workspace_limit

register(Chunked(Dilated(Polyphase(FFTConvolution()))))
register(Chunked(Dilated(Polyphase(FFTConvolution(product='matmul', name='fft-cublas', devices=('cuda',))))))
register(Chunked(Dilated(Polyphase(TiledFFT()))))
register(Chunked(DirectConvolution()))
register(Chunked(WinogradConvolution()))


def default_algorithm():
    """The algorithm used when none is named: config's conv_algorithm (``MINIFFT_CONV_ALGO``, 'auto')."""
    return config.get('conv_algorithm')


def set_default_algorithm(name):
    """Switch every convolution that names no algorithm (all layers built with algo=None)."""
    config.set(conv_algorithm=name)


def using(name):
    """Within this block, convolutions that name no algorithm use ``name`` (config.using's alias)."""
    return config.using(conv_algorithm=name)


def select(name, g, x, w):
    """The algorithm object for ``name`` (None: the default), resolving 'auto' per layer shape. A
    layer that the named algorithm cannot run is an error, but one the default cannot run goes to
    auto (with a warning once per layer shape), so a default such as 'winograd' fits any model."""
    from .. import backend
    given = name
    name = name or default_algorithm()
    if name == registry.AUTO:
        name = auto.choose(g, x, w)
    algorithm = get(name)
    device = backend.device_of(x)
    if not algorithm.supports(g, device):
        if given is not None:
            raise ValueError(f"conv2d: algo {name!r} does not support the layer {g.describe()} on '{device}'")
        # a default covers every layer: where it cannot run (winograd on a 5x5 layer), auto picks
        if (name, g, device) not in _fallbacks:
            _fallbacks.add((name, g, device))
            warnings.warn(f"conv2d: the default algo {name!r} does not support the layer {g.describe()} on "
                          f"'{device}'; auto chooses for it", UserWarning, stacklevel=3)
        algorithm = get(auto.choose(g, x, w))
    return algorithm


_fallbacks = set()


auto_report = auto.format_report

__all__ = [
    'ConvAlgorithm', 'OpCount', 'Workspace', 'PASSES', 'ConvGeometry', 'FFTConvolution', 'DirectConvolution',
    'TiledFFT', 'WinogradConvolution', 'Chunked', 'Dilated', 'Polyphase', 'register', 'unregister', 'names', 'choices', 'get', 'candidates',
    'check_name',
    'select', 'default_algorithm', 'set_default_algorithm', 'using', 'training_step', 'auto', 'auto_report',
    'profiler', 'registry', 'timing', 'spectral_bytes', 'set_workspace_limit', 'workspace_limit',
]
