"""A small user module, type-checked with ``mypy --strict`` against the
*installed* package (``.ci/packaging.sh`` does it; so does the wheels workflow).

Not a test module: pytest does not collect it (no ``test_`` prefix). It is
also plain runnable code: ``python tests/typing/user_module.py`` exits 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import fastdispatch
from fastdispatch import Signal, receiver
from fastdispatch.dispatcher import NO_RECEIVERS

pizza_done = Signal()
order_placed = Signal(use_caching=True)


class Pizza:
    def __init__(self, toppings: list[str]) -> None:
        self.toppings = toppings


@receiver(pizza_done)
def count_toppings(sender: object, **kwargs: Any) -> int:
    toppings: list[str] = kwargs["toppings"]
    return len(toppings)


@receiver([pizza_done, order_placed], sender=Pizza, dispatch_uid="audit")
def audit(sender: type[Pizza], **kwargs: Any) -> str:
    return sender.__name__


async def notify(sender: object, **kwargs: Any) -> str:
    await asyncio.sleep(0)
    return "notified"


# The decorator gives the function back with its own type.
size: int = count_toppings(None, toppings=["cheese"])

order_placed.connect(notify, sender=Pizza, weak=False)
listening: bool = order_placed.has_listeners(Pizza)


def send_sync() -> list[tuple[Callable[..., Any], Any]]:
    responses = pizza_done.send(sender=Pizza, toppings=["cheese", "basil"])
    robust = pizza_done.send_robust(sender=None, toppings=[])
    return responses + robust


async def send_async() -> list[object]:
    responses = await order_placed.asend(sender=Pizza, toppings=["ham"])
    robust = await order_placed.asend_robust(sender=Pizza, toppings=[])
    return [response for _, response in responses + robust]


def main() -> int:
    results = [response for _, response in send_sync()]
    results += asyncio.run(send_async())
    removed: bool = order_placed.disconnect(notify, sender=Pizza)
    compiled: bool = fastdispatch.COMPILED
    print(f"compiled={compiled} removed={removed} no_receivers={NO_RECEIVERS!r}")
    print(results)
    return 0 if removed and listening and size == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
