from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from accounts.views import SiteViewSet
from events.views import EventFeedView
from learning.views import AlgoCancelView, LearnupletViewSet, ProblemLeaderboardView
from metrics.views import MetricsView
from orchestrator_site.health import healthz
from predictions.views import PredupletViewSet
from problems.views import AlgoViewSet, DataViewSet, ProblemViewSet

# No `.json` suffix routes: the contract names none, and the custom actions take no
# `format` argument (`POST problems.json` was a 500). `?format=api` still selects the HTML view.
router = DefaultRouter()
router.include_format_suffixes = False
router.register("problems", ProblemViewSet, basename="problem")
router.register("algos", AlgoViewSet, basename="algo")
router.register("data", DataViewSet, basename="data")
router.register("learnuplets", LearnupletViewSet, basename="learnuplet")
router.register("preduplets", PredupletViewSet, basename="preduplet")
router.register("sites", SiteViewSet, basename="site")

api_v1: list[URLPattern | URLResolver] = [
    path("", include(router.urls)),
    path("problems/<uuid:pk>/leaderboard/", ProblemLeaderboardView.as_view(), name="problem-leaderboard"),
    path("algos/<uuid:pk>/cancel/", AlgoCancelView.as_view(), name="algo-cancel"),
    path("events/", EventFeedView.as_view(), name="events"),
    # The contract opens the schema and its UI to everyone.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny]),
        name="docs",
    ),
]

# Unmatched /api/ paths answer JSON like the rest of the API, and unmatched root paths as
# the 2017 routes answer. The handler is morpheo's, which asks orchestrator_site.errors for
# the first: named here, the composition root, so that orchestrator_site.errors does not
# import morpheo.
handler404 = "morpheo.errors.not_found"
handler400 = "orchestrator_site.errors.bad_request"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api-auth/", include("rest_framework.urls")),
    # The 2017 Morpheo routes (problem, algo, data, worker, learndone, ...), HTTP Basic.
    path("", include("morpheo.urls")),
]
