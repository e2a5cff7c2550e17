"""The API docs (/api/v1/docs/) name only this server's static files, and it serves them:
the page works without the internet (issue 14, point 1).

Production: `collectstatic` (hashed, compressed names) and WhiteNoise. Debug (`serve`):
the apps' own files, which WhiteNoise finds with the finders.
"""

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client, override_settings

from tests.project.test_deploy import PRODUCTION, manage

DOCS = "/api/v1/docs/"
# What orchestrator_site.settings uses when debug is off (the test settings use the apps'
# files); the first test checks that it still does.
PRODUCTION_STORAGE = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
APP_FILES_STORAGE = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
# Every URL the HTML names: attributes, and absolute URLs anywhere (inline script too).
ATTRIBUTE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")
ABSOLUTE = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `collectstatic` writes with the production storage (once for this module)."""
    root = tmp_path_factory.mktemp("staticfiles")
    storages = {**django_settings.STORAGES, "staticfiles": PRODUCTION_STORAGE}
    with override_settings(STATIC_ROOT=root, STORAGES=storages):
        call_command("collectstatic", "--no-input", verbosity=0)
    return root


def assert_only_local(html: str) -> list[str]:
    """The URLs that the page references, all on this server; returns the static ones."""
    elsewhere = [url for url in ABSOLUTE.findall(html) if urlsplit(url).netloc not in ("", "testserver")]
    assert elsewhere == [], "the docs page names files on other hosts"
    urls: list[str] = ATTRIBUTE.findall(html)
    assert all(url.startswith("/static/") for url in urls), urls
    return urls


def assert_served(client: Client, urls: list[str]) -> None:
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.getvalue(), url  # not an empty body


def test_the_production_settings_use_that_storage() -> None:
    result = manage("shell", "-c", "from django.conf import settings; print(settings.STORAGES['staticfiles'])",
                    **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == repr(PRODUCTION_STORAGE)


def test_it_serves_swagger_ui_from_the_collected_static_files(settings: Any, collected: Path) -> None:
    settings.STATIC_ROOT = collected
    settings.STORAGES = {**settings.STORAGES, "staticfiles": PRODUCTION_STORAGE}
    client = Client()  # a new handler: WhiteNoise reads STATIC_ROOT when it starts

    response = client.get(DOCS)

    assert response.status_code == 200
    html = response.content.decode()
    urls = assert_only_local(html)
    assert {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"} == {
        re.sub(r"\.[0-9a-f]{12}\.", ".", url.rsplit("/", 1)[1]) for url in urls
    }
    # The hashed names of the manifest, which WhiteNoise serves as immutable.
    assert all(re.search(r"\.[0-9a-f]{12}\.", url) for url in urls), urls
    assert_served(client, urls)


def test_it_serves_swagger_ui_from_the_apps_in_debug(settings: Any) -> None:
    settings.DEBUG = True  # WhiteNoise then finds the files in the apps, as under `serve`
    settings.STORAGES = {**settings.STORAGES, "staticfiles": APP_FILES_STORAGE}
    client = Client()

    response = client.get(DOCS)

    assert response.status_code == 200
    urls = assert_only_local(response.content.decode())
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in urls
    assert_served(client, urls)


def test_swagger_ui_asks_no_online_validator(client: Client) -> None:
    # Swagger UI's default shows a badge from validator.swagger.io, fetched with our schema's URL.
    html = client.get(DOCS).content.decode()

    assert re.search(r'"validatorUrl":\s*null', html)
