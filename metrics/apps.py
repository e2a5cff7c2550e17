from django.apps import AppConfig
from prometheus_client import disable_created_metrics


class MetricsConfig(AppConfig):
    name = "metrics"

    def ready(self) -> None:
        # prometheus_client gives every counter, histogram and summary a `<name>_created`
        # series (when it was created, per label set): as many series again, which no
        # dashboard reads. Read at each scrape, so turning it off at start-up suffices.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client
