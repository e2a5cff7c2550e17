from django.apps import AppConfig, apps


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Task queue"

    def ready(self) -> None:
        from tasks import observe
        from tasks.models import QueueTask

        # The task kinds are the installed apps' concrete QueueTask models: tasks imports
        # none of them.
        for model in apps.get_models():
            if issubclass(model, QueueTask):
                observe.start_series(model.kind)
