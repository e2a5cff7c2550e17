from collections.abc import Iterator

import pytest

from tests.morpheo.compute_standin import StandInCompute


@pytest.fixture
def compute() -> Iterator[StandInCompute]:
    """The stand-in 2017 Compute API, up on a free local port."""
    with StandInCompute() as standin:
        yield standin
