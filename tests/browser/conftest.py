"""A real headless Chromium driven by Selenium against pytest-django's live server (issue 14).

Debian's `chromium` and `chromium-driver` packages (.ci/run installs them); Selenium is
given the system chromedriver, so it never runs Selenium Manager, which would try to
download a driver. Outside CI the tests skip when the packages are missing; in CI
(`CI=true`) that is a failure.

When a test that uses the browser fails, its screenshot, page source and browser console
are written to artifacts/browser/<test name>.png, .html and .log.
"""

import json
import os
import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome, ChromeOptions
from selenium.webdriver.chrome.service import Service

from tests.browser.pages import WAIT_SECONDS

CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
WINDOW = (1400, 1000)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _unavailable() -> str | None:
    if not CHROMEDRIVER.is_file():
        return f"{CHROMEDRIVER} is missing: apt-get install -y chromium chromium-driver"
    if _chromium() is None:
        return "chromium is missing: apt-get install -y chromium chromium-driver"
    return None


@pytest.fixture
def static_without_manifest(settings: Any) -> None:
    """The live server serves the admin's static files from the apps (no `collectstatic`,
    so no manifest); the production storage would refuse to name them."""
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def browser(live_server: Any, static_without_manifest: None) -> Iterator[Chrome]:
    """A fresh headless Chromium, 1400x1000, for one test (no cookies or blocks carried over)."""
    missing = _unavailable()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI, but {missing}")
        pytest.skip(missing)
    options = ChromeOptions()
    options.binary_location = str(_chromium())
    for argument in ("--headless=new", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                     # Root in a container: no user namespace sandbox, and a small /dev/shm.
                     "--no-sandbox", "--disable-dev-shm-usage",
                     # Nothing of Chromium's own traffic (updates, metrics, sign-in).
                     "--disable-background-networking", "--disable-component-update", "--no-first-run",
                     "--disable-sync", "--disable-default-apps", "--lang=en-US"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS * 2)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    driver = getattr(item, "funcargs", {}).get("browser")
    if report.failed and report.when == "call" and isinstance(driver, Chrome):
        for name, where in save_artifacts(driver, item.name).items():
            report.sections.append((f"browser {name}", where))
    return report


def save_artifacts(driver: Chrome, test_name: str) -> dict[str, str]:
    """The screenshot, page source and console of the page the test ended on: what was
    saved, and where."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / re.sub(r"[^\w.-]+", "_", test_name)
    saved: dict[str, str] = {}
    try:
        saved["url"] = driver.current_url
        png, html, log = (stem.with_name(f"{stem.name}.{ext}") for ext in ("png", "html", "log"))
        if driver.save_screenshot(str(png)):
            saved["screenshot"] = str(png)
        html.write_text(driver.page_source)
        saved["page source"] = str(html)
        log.write_text("".join(json.dumps(entry) + "\n" for entry in driver.get_log("browser")))
        saved["console"] = str(log)
    except Exception as error:  # the browser may be what broke: keep the test's own failure
        saved["artifacts incomplete"] = f"{type(error).__name__}: {error}"
    return saved
