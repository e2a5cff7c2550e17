"""ORCHESTRATOR_COMPUTE_URL: an http(s) URL, or unset; anything else stops start-up."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from orchestrator_site.env import env_url


@pytest.mark.parametrize(("raw", "url"), [
    ("http://compute:8000/", "http://compute:8000"),
    ("https://user:secret@compute.example/api", "https://user:secret@compute.example/api"),
    ("", None),
])
def test_it_takes_an_http_url_or_nothing(monkeypatch, raw, url):
    monkeypatch.setenv("ORCHESTRATOR_COMPUTE_URL", raw)

    assert env_url("ORCHESTRATOR_COMPUTE_URL") == url


@pytest.mark.parametrize("raw", ["compute:8000", "ftp://compute", "http://compute:port", "http://compute/?a=1",
                                 "http://:80", "http://compute:99999"])
def test_it_stops_on_anything_else(monkeypatch, raw):
    monkeypatch.setenv("ORCHESTRATOR_COMPUTE_URL", raw)

    with pytest.raises(ImproperlyConfigured, match="ORCHESTRATOR_COMPUTE_URL"):
        env_url("ORCHESTRATOR_COMPUTE_URL")


def test_unset_is_nothing(monkeypatch):
    monkeypatch.delenv("ORCHESTRATOR_COMPUTE_URL", raising=False)

    assert env_url("ORCHESTRATOR_COMPUTE_URL") is None
