from django.apps import AppConfig
from django.db.models.signals import post_save


class LearningConfig(AppConfig):
    name = "learning"
    verbose_name = "Learning"

    def ready(self) -> None:
        from learning import receivers
        from problems.models import Algo, DataUpload, Problem

        post_save.connect(receivers.on_algo_saved, sender=Algo, dispatch_uid="learning.algo")
        post_save.connect(receivers.on_upload_saved, sender=DataUpload, dispatch_uid="learning.upload")
        post_save.connect(receivers.on_problem_saved, sender=Problem, dispatch_uid="learning.problem")
