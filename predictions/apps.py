from django.apps import AppConfig
from django.db.models.signals import post_save


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Predictions"

    def ready(self) -> None:
        from predictions import receivers
        from problems.models import Problem

        post_save.connect(receivers.on_problem_saved, sender=Problem, dispatch_uid="predictions.problem")
