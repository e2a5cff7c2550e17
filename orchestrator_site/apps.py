from django.contrib.admin.apps import AdminConfig


class OrchestratorAdminConfig(AdminConfig):
    """django.contrib.admin with the Orchestrator's site as `admin.site`, so that every
    app's admin.py registers on it as usual."""

    default_site = "orchestrator_site.admin_site.OrchestratorAdminSite"
