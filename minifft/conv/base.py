"""The contract every convolution algorithm implements, and the facts they share.

An algorithm is an object with a ``name`` that runs one layer's three passes on raw arrays
(NumPy or CuPy) for a ``ConvGeometry`` g:

    y, saved = algo.forward(x, w, g)           fprop; ``saved`` is what backward needs
    ctx = algo.backward_setup(saved, gy, g)    work both gradients share (the FFT transforms gy once)
    gx = algo.backward_input(ctx, g)           bprop   (skipped when x needs no gradient)
    gw = algo.backward_weight(ctx, g)          accGrad (skipped when w needs no gradient)

``saved`` and ``ctx`` are the algorithm's own small dataclasses (named fields, never anonymous
tuples); callers pass them back untouched. ``supports(g, device)`` says whether the algorithm
can run a layer there (auto only times candidates that do), ``cost(g, device)`` is its operation
count per pass and kind of work (auto's model when autotuning is off, the benchmarks' GFLOP/s).

To add one: subclass ConvAlgorithm, give it a unique ``name``, and ``register`` it
(minifft/conv/registry.py). Every consumer reads the registry: the names F.conv2d, nn.Conv2d and
config accept, auto's candidates, train.py --conv/--compare, the benchmarks and the reference
tests. Strides and bounded memory come from wrappers (polyphase.Polyphase, chunking.Chunked) that
take any stride-1 algorithm.
"""
import dataclasses

PASSES = ('fprop', 'bprop', 'accGrad')
DEVICES = ('cpu', 'cuda')


@dataclasses.dataclass(frozen=True)
class OpCount:
    """Floating-point operations of one training step: {pass: {kind of work: flops}}.

    Kinds: 'gemm' (real matrix products), 'spectral' (per-frequency complex products, 8 flops per
    complex multiply-add), 'fft' (real 2-D transforms, 2.5 N log2 N each), 'elementwise' (adds and
    scalings of whole arrays: winograd's transforms), 'sweep' (multiply-adds of one weight over long
    rows: depthwise layers). With channel groups G
    every product counts f/G input channels per output channel, in every algorithm.
    """

    passes: dict

    def total(self, kind=None):
        return sum(v for p in self.passes.values() for k, v in p.items() if kind in (None, k))

    def weighted(self, rates):
        """Estimated time in units of a large GEMM: flops of each kind divided by its relative rate."""
        return sum(v / rates[k] for p in self.passes.values() for k, v in p.items())


@dataclasses.dataclass(frozen=True)
class Workspace:
    """Bytes an algorithm holds for one layer: ``kept`` from forward to backward, ``peak`` at most
    at once, and ``terms`` naming what makes up the peak (for reports and tests)."""

    kept: int
    peak: int
    terms: dict = dataclasses.field(default_factory=dict)


class ConvAlgorithm:
    """Base class of every convolution algorithm (see the module text for the contract)."""

    name = None
    devices = DEVICES   # devices it can run on at all; supports() may refuse single layers

    def supports(self, g, device):
        """Whether this algorithm can run layer ``g`` on ``device``."""
        return device in self.devices

    def cost(self, g, device='cpu'):
        """OpCount of one training step of layer ``g``."""
        raise NotImplementedError(f"{type(self).__name__}.cost")

    def workspace(self, g, itemsize, device='cpu'):
        """Workspace bytes for layer ``g``, or None when the algorithm does not model them."""
        return None

    def fits(self, g, device, itemsize):
        """Whether layer ``g`` runs within the workspace limit (Chunked answers for its smallest
        pieces); auto times only candidates that fit. Unbounded algorithms say True."""
        return True

    def same_work_as(self, g, device):
        """The name of another registered algorithm that does in effect this one's work on layer ``g``
        (fft-tiled with one whole-image tile is the fft), or None; auto then times only that one."""
        return None

    def forward(self, x, w, g):
        """y (S, f', oh, ow) and the saved state backward needs."""
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward_setup(self, saved, gy, g):
        """The context both gradients read (what they share is computed here once)."""
        raise NotImplementedError(f"{type(self).__name__}.backward_setup")

    def backward_input(self, ctx, g):
        """gx (S, f, H, W)."""
        raise NotImplementedError(f"{type(self).__name__}.backward_input")

    def backward_weight(self, ctx, g):
        """gw (f', f/G, kh, kw)."""
        raise NotImplementedError(f"{type(self).__name__}.backward_weight")

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


def training_step(algorithm, x, w, gy, g):
    """One training step of layer ``g`` through ``algorithm``: forward and both gradients."""
    _, saved = algorithm.forward(x, w, g)
    ctx = algorithm.backward_setup(saved, gy, g)
    return algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g)


class Wrapper(ConvAlgorithm):
    """An algorithm built around another (``inner``): it takes the inner one's name and devices."""

    def __init__(self, inner, name=None):
        self.inner = inner
        self.name = name or inner.name
        self.devices = inner.devices

    def fits(self, g, device, itemsize):
        return self.inner.fits(g, device, itemsize)

    def same_work_as(self, g, device):
        # wrappers that change the layer (strides into phases, dilated kernels) would need to
        # translate g first; on the layers they pass through unchanged, ask the inner algorithm
        return None if g.strided or g.dilated else self.inner.same_work_as(g, device)
