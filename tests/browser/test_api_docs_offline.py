"""The API docs (Swagger UI at /api/v1/docs/) work without the internet, in a real browser (issue 14).

The browser may reach the live server and nothing else: DevTools blocks every other URL,
so a page that needs a CDN fails here even on a machine that is online.
"""

import json
from typing import Any
from urllib.parse import urlsplit

from drf_spectacular.generators import SchemaGenerator
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.pages import wait_for

# Fetched from the page to show that the block is in force (it would fail offline anyway).
PROBE = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def block_all_but(driver: Chrome, base_url: str) -> None:
    """Block every request but those to `base_url`: the first matching pattern decides.
    (URLPatterns: the catch-all takes any scheme, host, port, path and query; `data:`
    URLs, which are no network, do not match it.)"""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urlPatterns": [
        {"urlPattern": f"{base_url}/*", "block": False},
        {"urlPattern": "*://*:*/*", "block": True},
    ]})


class Requests:
    """The page's requests, from the DevTools events of the performance log."""

    def __init__(self, driver: Chrome) -> None:
        self.driver = driver
        self.urls: dict[str, str] = {}  # request id: URL
        self.failures: dict[str, str] = {}  # request id: why ("inspector": blocked by us)

    def read(self) -> "Requests":
        for entry in self.driver.get_log("performance"):  # each call returns the events since the last
            event = json.loads(entry["message"])["message"]
            params: dict[str, Any] = event["params"]
            if event["method"] == "Network.requestWillBeSent":
                self.urls[params["requestId"]] = params["request"]["url"]
            elif event["method"] == "Network.loadingFailed":
                self.failures[params["requestId"]] = params.get("blockedReason") or params.get("errorText", "?")
        return self

    @property
    def blocked(self) -> list[str]:
        return sorted(self.urls.get(rid, rid) for rid, why in self.failures.items() if why == "inspector")


def operations() -> list[str]:
    """The path of each operation in the OpenAPI document, once per method."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [path for path, item in schema["paths"].items() for method in item if method in METHODS]


def listed(driver: WebDriver) -> list[str]:
    """The paths of the operations that Swagger UI shows."""
    return [b.get_attribute("data-path") or b.text
            for b in driver.find_elements(By.CSS_SELECTOR, ".opblock .opblock-summary-path")]


def test_the_api_docs_list_every_operation_with_the_network_blocked(browser, live_server):
    expected = sorted(operations())
    requests = Requests(browser)
    block_all_but(browser, live_server.url)

    browser.get(f"{live_server.url}/api/v1/docs/")
    # Until every operation is listed; or, once the page has loaded, as soon as it is
    # clear that it asked for something the block refused (its script will never come).
    wait_for(browser, lambda d: sorted(listed(d)) == expected or bool(
        requests.read().blocked and d.execute_script("return document.readyState") == "complete"),
        "Swagger UI did not list the operations")
    requests.read()

    assert not requests.blocked, f"the docs page needs files from outside the server: {requests.blocked}"
    paths = listed(browser)
    assert {"/api/v1/learnuplets/claim/", "/api/v1/problems/{uuid}/leaderboard/"} <= set(paths)
    assert sorted(paths) == expected, "one block per operation of the OpenAPI document"
    here = urlsplit(live_server.url).netloc
    elsewhere = [u for u in requests.urls.values()
                 if urlsplit(u).scheme in {"http", "https", "ws", "wss"} and urlsplit(u).netloc != here]
    assert elsewhere == [], "the page asked for no other host"

    # And the block was in force: a request elsewhere is refused by it, not merely unanswered.
    outcome = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {mode: 'no-cors'}).then(() => done('loaded'), e => done(String(e)));", PROBE)
    assert outcome != "loaded"
    assert wait_for(browser, lambda d: PROBE in requests.read().blocked, "the probe was not blocked")
