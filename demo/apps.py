from django.apps import AppConfig


class DemoAppConfig(AppConfig):
    name = "demo"
    verbose_name = "End-to-end demo"
