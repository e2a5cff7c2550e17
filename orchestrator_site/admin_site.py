"""The admin site as operators see it: named for the Orchestrator, and its "View site"
link leads to the API's docs (the site has no home page: `/` is a 2017 route's 404)."""

from django.contrib import admin


class OrchestratorAdminSite(admin.AdminSite):
    site_header = "Orchestrator"
    site_title = "Orchestrator admin"
    index_title = "Operations"
    site_url = "/api/v1/docs/"
