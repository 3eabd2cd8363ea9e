MODELS = {}
DEFAULTS = {'shapes': 'small', 'mnist': 'lenet', 'digits': 'lenet', 'cifar10': 'cifar'}


def register(name):
    """Decorator: make a builder ``fn(input_shape, num_classes)`` available by name."""
    def add(fn):
        MODELS[name] = fn
        return fn
    return add


def build(name, input_shape, num_classes):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](tuple(input_shape), num_classes)


def default_model(dataset):
    return DEFAULTS[dataset]


def min_input_size(name, channels, num_classes, largest=4096):
    """The smallest side s for which ``name`` accepts (channels, s, s) inputs (None: none up to
    ``largest``). Convolutions and pooling only shrink with the input, so fitting is monotone in s:
    double until one fits, then bisect."""
    def fits(side):
        try:
            build(name, (channels, side, side), num_classes)
        except ValueError:   # a layer's shape check: the input is too small for it
            return False
        return True
    low, high = 0, 1         # low does not fit (0 never does), high is the candidate
    while not fits(high):
        low, high = high, 2 * high
        if high > largest:
            return None
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid, high)
    return high
