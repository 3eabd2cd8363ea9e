import numpy
import pytest

import minifft
from minifft import backend


def pytest_collection_modifyitems(config, items):
    usable, reason = backend.cuda_status()
    if usable:
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {reason}")
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seeded():
    minifft.manual_seed(0)
    yield


@pytest.fixture
def rng():
    return numpy.random.default_rng(1234)


@pytest.fixture(params=['cpu'])
def device(request):
    return request.param
