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
