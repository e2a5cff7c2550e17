from collections.abc import Iterator

import pytest
from orchestrator_client import Client

from tests.conftest import Caller


@pytest.fixture
def orch(live_server, uploader: Caller) -> Iterator[Client]:
    """The uploader's client against a live server: real HTTP, real PostgreSQL."""
    with Client(live_server.url, uploader.token) as client:
        yield client
