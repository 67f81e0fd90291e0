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


# One proxy per delivery mode, so the outage and kill tests can save an order
# for each mode in its own transaction (a failing "now" enqueue rolls back only
# its own) and connect each mode's receiver to its own sender.
class OnCommitOrder(Order):
    class Meta:
        proxy = True


class NowOrder(Order):
    class Meta:
        proxy = True


class OutboxOrder(Order):
    class Meta:
        proxy = True


class TasksNowOrder(Order):
    class Meta:
        proxy = True
