"""GET /healthz: what load balancers and orchestrators probe, without credentials."""

import copy
import socket
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client


@pytest.fixture
def dead_database(transactional_db: None) -> Iterator[None]:
    """Point the default connection at a local port where nothing listens, then back.

    The port stays bound (never listening) for the test, so connecting is refused at
    once and nobody else can take the port meanwhile.
    """
    saved = copy.deepcopy(connection.settings_dict)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        connection.close()
        options = {k: v for k, v in saved["OPTIONS"].items() if k != "host"}  # embedded: a socket dir
        connection.settings_dict.update(
            HOST="127.0.0.1", PORT=str(holder.getsockname()[1]), OPTIONS={**options, "connect_timeout": 2}
        )
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


def test_it_answers_ok_without_credentials(db: None, client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_answers_503_when_the_database_is_unreachable(dead_database: None, client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_it_is_not_cached(db: None, client: Client) -> None:
    response = client.get("/healthz")

    assert "no-cache" in response["Cache-Control"]
