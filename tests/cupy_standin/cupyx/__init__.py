"""cupyx (stand-in): only cupyx.scipy.fft."""
