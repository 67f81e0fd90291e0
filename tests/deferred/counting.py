"""Count what was committed (the database) against what was delivered (the log)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .services import read_log

Key = tuple[str, str]  # (mode, phase)


def committed(base: int, size: int = 100_000) -> dict[Key, set[int]]:
    """Orders in the default database with numbers in [base, base + size), by the
    mode and phase their note names."""
    from .shop.models import Order

    found: dict[Key, set[int]] = defaultdict(set)
    for number, note in Order.objects.filter(number__gte=base, number__lt=base + size).values_list("number", "note"):
        mode, _, phase = note.partition("|")
        found[(mode, phase)].add(number)
    return found


PROXY_MODES = {
    "tests.deferred.shop.models.OnCommitOrder": "on_commit",
    "tests.deferred.shop.models.NowOrder": "now",
    "tests.deferred.shop.models.OutboxOrder": "outbox",
    "tests.deferred.shop.models.TasksNowOrder": "tasks_now",
}


class Deliveries:
    """Deliveries of the orders numbered [base, base + size), from the log.

    A line's mode is the mode that sent it (the proxy model it was sent for,
    or with ``mode_from_receiver`` the receiver's name); the order it names is
    the row the worker re-fetched. A worker that ran a task of a rolled-back
    transaction may find *another* row that reused the primary key: such a
    line, whose row belongs to another mode, is counted in ``wrong_row``.
    """

    def __init__(self, log: Path, base: int, size: int = 100_000, *, mode_from_receiver: bool = False) -> None:
        self.by_key: dict[Key, list[int]] = defaultdict(list)
        self.wrong_row: dict[str, list[int]] = defaultdict(list)
        # Delivery ids, by the mode that sent them.
        self.ids: dict[str, set[str]] = defaultdict(set)
        self.wrong_row_ids: dict[str, set[str]] = defaultdict(set)
        for line in read_log(log):
            instance: Any = line.get("kwargs", {}).get("instance") if line.get("event") == "delivered" else None
            if not isinstance(instance, dict) or "fields" not in instance:
                continue
            number = int(instance["fields"]["number"])
            if not base <= number < base + size:
                continue
            row_mode, _, phase = instance["fields"]["note"].partition("|")
            if mode_from_receiver:
                mode = line["receiver"]
            else:
                mode = PROXY_MODES.get(line["sender"].get("class", ""), row_mode)
            if row_mode not in (mode, "all"):
                self.wrong_row[mode].append(number)
                self.wrong_row_ids[mode].add(line["delivery_id"])
            else:
                self.by_key[(mode, phase)].append(number)
                self.ids[mode].add(line["delivery_id"])

    def get(self, key: Key) -> list[int]:
        return self.by_key.get(key, [])

    def numbers(self) -> set[int]:
        return {number for numbers in self.by_key.values() for number in numbers}


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = [" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)
