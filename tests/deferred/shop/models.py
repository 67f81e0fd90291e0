from django.db import models


class Order(models.Model):
    number = models.IntegerField()
    note = models.CharField(max_length=100, default="")

    def __str__(self) -> str:
        return f"Order {self.number}"


class ProcessedDelivery(models.Model):
    """The idempotency pattern of the docs: one row per delivery done."""

    delivery_id = models.CharField(max_length=32, unique=True)


class InvoiceSent(models.Model):
    """The side effect that must happen once per order, however often it is delivered."""

    order_number = models.IntegerField()
