from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    verbose_name = "Learning"

    def ready(self) -> None:
        from learning import receivers
        from problems.models import Algo, Data
        from problems.signals import algo_registered, data_registered

        algo_registered.connect(receivers.on_algo_registered, sender=Algo, dispatch_uid="learning.algo")
        data_registered.connect(receivers.on_data_registered, sender=Data, dispatch_uid="learning.data")
