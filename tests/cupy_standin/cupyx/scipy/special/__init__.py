"""cupyx.scipy.special (stand-in): erf (GELU's), SciPy's over the stand-in's device arrays."""
import scipy.special

from cupy import _function

erf = _function('erf', scipy.special.erf)

__all__ = ['erf']
