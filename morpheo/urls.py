"""The 2017 routes, at the root. Paths take no trailing slash (one is tolerated)."""

from django.urls import re_path

from morpheo import views

COLLECTION = r"(?P<collection>problem|algo|data|learnuplet|preduplet)"
PREFIXES = r"(?:problem|algo|data|learnuplet|preduplet|prediction|worker|learndone|preddone)"

urlpatterns = [
    re_path(r"^problem/?$", views.ProblemsView.as_view()),
    re_path(r"^algo/?$", views.AlgosView.as_view()),
    re_path(r"^data/?$", views.DataView.as_view()),
    re_path(r"^learnuplet/?$", views.CollectionView.as_view(collection="learnuplet")),
    re_path(r"^preduplet/?$", views.CollectionView.as_view(collection="preduplet")),
    re_path(rf"^{COLLECTION}/(?P<pk>[^/]+)/?$", views.DocumentView.as_view()),
    re_path(r"^prediction/?$", views.PredictionView.as_view()),
    re_path(r"^worker/(?P<kind>[^/]+)/(?P<pk>[^/]+)/?$", views.WorkerSetView.as_view()),
    re_path(r"^learndone/(?P<pk>[^/]+)/?$", views.LearnDoneView.as_view()),
    re_path(r"^preddone/(?P<pk>[^/]+)/?$", views.PredDoneView.as_view()),
    # Anything else under these prefixes is a JSON 404, as the 2017 server answered.
    re_path(rf"^{PREFIXES}(?:/.*)?$", views.not_found),
]
