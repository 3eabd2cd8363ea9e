"""cupy.linalg as far as minifft uses it."""
import numpy

from . import _function

norm = _function('norm', numpy.linalg.norm)
