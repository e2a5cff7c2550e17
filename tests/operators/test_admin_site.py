"""The admin is named for the Orchestrator, and "View site" leads somewhere (issue 14,
point 10c): it said "Django administration", and "View site" went to `/`, a 404."""

import re

from django.test import Client
from django.urls import resolve


def test_the_admin_is_named_for_the_orchestrator(admin_browser: Client) -> None:
    html = admin_browser.get("/admin/").content.decode()

    assert "<title>Operations | Orchestrator admin</title>" in html
    assert re.search(r'<div id="site-name"><a href="/admin/">Orchestrator</a></div>', html), html
    assert "<h1>Operations</h1>" in html
    assert "Django" not in html


def test_the_login_page_is_named_too(client: Client, db: None) -> None:
    html = client.get("/admin/login/").content.decode()

    assert "<title>Log in | Orchestrator admin</title>" in html
    assert "Django administration" not in html


def test_view_site_leads_to_the_api_docs(admin_browser: Client) -> None:
    html = admin_browser.get("/admin/").content.decode()

    [href] = re.findall(r'<a href="([^"]*)">View site</a>', html)
    assert href == "/api/v1/docs/"
    assert resolve(href).url_name == "docs"
    assert admin_browser.get(href).status_code == 200
