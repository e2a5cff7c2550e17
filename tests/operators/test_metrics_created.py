"""/metrics carries no `_created` series (issue 14, point 10d): prometheus_client adds one
to every counter, histogram and summary by default, as many series again that nobody reads."""

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db


def test_the_scrape_has_no_created_series(operator, anonymous) -> None:
    anonymous.get("/healthz")  # a request, so that the latency histogram has a labelled child
    operator.get("/api/v1/problems/")

    text = operator.get("/metrics").content.decode()

    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    assert any(s.name == "orchestrator_http_request_duration_seconds_count" for s in samples)
    assert [s.name for s in samples if s.name.endswith("_created")] == []
    assert not re.search(r"^\w+_created\b", text, re.MULTILINE)
