"""A throwaway algorithm, for showing that registering one is all it takes (test_registry.py).

Used as a pytest plugin (``-p tests.conv.throwaway``) it registers, before collection, the variant
named by MINIFFT_TEST_THROWAWAY: 'good' (a copy of direct) or 'wrong' (a copy whose weight
gradient is off by 1%, which the reference suite must catch).
"""
import os

from minifft import conv
from minifft.conv.direct import DirectConvolution


class DirectCopy(DirectConvolution):
    name = 'direct-copy'


class WrongWeightGradient(DirectConvolution):
    name = 'direct-wrong'

    def backward_weight(self, ctx, g):
        return super().backward_weight(ctx, g) * ctx.gy.dtype.type(1.01)


VARIANTS = {'good': DirectCopy, 'wrong': WrongWeightGradient}

if os.environ.get('MINIFFT_TEST_THROWAWAY') in VARIANTS:
    conv.register(VARIANTS[os.environ['MINIFFT_TEST_THROWAWAY']])
