from django.apps import AppConfig


class MorpheoConfig(AppConfig):
    name = "morpheo"
    verbose_name = "Morpheo-compatible routes (2017 clients)"
