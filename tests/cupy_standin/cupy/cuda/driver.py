"""cupy.cuda.driver: the error a bad launch raises."""


class CUDADriverError(RuntimeError):
    pass
