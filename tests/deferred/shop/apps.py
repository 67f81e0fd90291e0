from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "tests.deferred.shop"
    label = "shop"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (workers import the receivers)
