"""What a send's arguments become on the way to a worker, and back.

Each top-level argument (and the sender) is encoded as a small JSON list whose
first item says what it was:

- ``["json", value]``: a JSON value (str, int, float, bool, None, lists and
  dicts with str keys; tuples arrive as lists), checked all the way down;
- ``["model", "app_label.ModelName", pk, db]``: a saved model instance, re-fetched
  in the worker from database ``db``;
- ``["snapshot", "app_label.ModelName", fields_json, db]``: a model instance of a
  ``pre_delete``/``post_delete`` send, whose row is gone by the time the worker
  runs: the worker gets an unsaved copy built from the field values at send time;
- ``["model_class", "app_label.ModelName"]``: a model class (a model signal's
  ``sender``);
- ``["class", "module:qualname"]``: another importable class;
- ``["set", [...]]`` and ``["frozenset", [...]]``: sets of JSON values
  (``update_fields``, ``m2m_changed``'s ``pk_set``).

Anything else is a ``TypeError`` raised at send time, before anything of that
send is enqueued, naming the signal, the receiver and the argument.
Encoding never imports Django: a model is recognised only if Django's models
module is already loaded.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["SNAPSHOT_SIGNALS", "decode_value", "encode_arguments", "is_model_instance"]

JSON = Any
Encoded = list[Any]

# Model signals whose instance no longer has a row when a worker runs.
SNAPSHOT_SIGNALS = ("pre_delete", "post_delete")

_ALLOWED = (
    "Deferred arguments must be JSON values (str, int, float, bool, None, lists, "
    "and dicts with str keys), saved model instances (sent as their label and "
    "primary key, re-fetched by the worker), model classes, importable classes, "
    "or sets of JSON values."
)


class _NotJSON(Exception):
    def __init__(self, path: str, value: object, why: str) -> None:
        super().__init__(path)
        self.path = path
        self.value = value
        self.why = why


def _check_json(value: object, path: str) -> JSON:
    """``value`` as the JSON it will travel as (tuples become lists), or _NotJSON."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str enum travels as its text
    if isinstance(value, int):
        return int(value)  # an int subclass (an IntEnum) travels as its number
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON(path, value, "is not a finite number, which JSON cannot hold")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_check_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        result: dict[str, JSON] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotJSON(
                    f"{path}[{key!r}]", key, "is a dict key that is not a str (JSON keys are strings)"
                )
            result[key] = _check_json(item, f"{path}[{key!r}]")
        return result
    raise _NotJSON(path, value, "is not JSON-serialisable")


def _models_module() -> Any:
    return sys.modules.get("django.db.models")


def is_model_instance(value: object) -> bool:
    models = _models_module()
    return models is not None and isinstance(value, models.Model)


def _is_model_class(value: object) -> bool:
    models = _models_module()
    return models is not None and inspect.isclass(value) and issubclass(value, models.Model)


def _class_reference(cls: type) -> str | None:
    qualname = cls.__qualname__
    if "<locals>" in qualname or cls.__module__ in ("__main__", "builtins"):
        return None
    module = sys.modules.get(cls.__module__)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return f"{cls.__module__}:{qualname}" if obj is cls else None


def _encode_instance(value: Any, path: str, using: str | None, snapshot: bool) -> Encoded:
    meta = value._meta
    label = meta.label
    db = value._state.db or using or "default"
    if snapshot:
        from django.core import serializers

        fields = [field.name for field in meta.concrete_fields if not field.primary_key]
        data = serializers.serialize("json", [value], fields=fields)
        return ["snapshot", label, data, db]
    if value.pk is None:
        raise _NotJSON(
            path,
            value,
            "is a model instance without a primary key (unsaved), which a worker "
            "cannot re-fetch; send it after it is saved (post_save), or pass the "
            "values the receiver needs",
        )
    return ["model", label, meta.pk.value_to_string(value), db]


def _encode(value: object, path: str, using: str | None, snapshot: bool) -> Encoded:
    if is_model_instance(value):
        return _encode_instance(value, path, using, snapshot)
    if inspect.isclass(value):
        if _is_model_class(value):
            return ["model_class", value._meta.label]  # type: ignore[attr-defined]
        reference = _class_reference(value)
        if reference is None:
            raise _NotJSON(
                path, value, "is a class that a worker cannot import by name (define it at module level)"
            )
        return ["class", reference]
    if isinstance(value, (set, frozenset)):
        items = [_check_json(item, f"{path} item") for item in value]
        # A stable order: the same send always gives the same message.
        items.sort(key=repr)
        return ["frozenset" if isinstance(value, frozenset) else "set", items]
    return ["json", _check_json(value, path)]


def encode_arguments(
    sender: object,
    named: Mapping[str, object],
    *,
    snapshot: bool,
    signal_name: str,
    receiver_name: str,
) -> tuple[Encoded, dict[str, Encoded]]:
    """``(sender, {name: value})`` encoded for a worker, or a ``TypeError``."""
    using = named.get("using")
    using = using if isinstance(using, str) else None
    try:
        encoded_sender = _encode(sender, "sender", using, snapshot)
        encoded = {
            name: _encode(value, f"argument {name!r}", using, snapshot)
            for name, value in named.items()
        }
    except _NotJSON as error:
        raise TypeError(
            f"Cannot send {signal_name} to {receiver_name} on a worker: "
            f"{error.path} ({type(error.value).__module__}.{type(error.value).__qualname__}: "
            f"{_short_repr(error.value)}) {error.why}. {_ALLOWED} Pass a JSON value "
            "instead (an id, a str, value.isoformat() for a datetime). "
            "Nothing was enqueued for this send."
        ) from None
    return encoded_sender, encoded


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__qualname__} object>"
    return text if len(text) <= 80 else text[:77] + "..."


def decode_value(encoded: Encoded) -> Any:
    """The worker's side of ``_encode``: the value the receiver is called with."""
    kind = encoded[0]
    if kind == "json":
        return encoded[1]
    if kind == "set":
        return set(encoded[1])
    if kind == "frozenset":
        return frozenset(encoded[1])
    if kind == "class":
        from ._references import import_reference

        return import_reference(encoded[1])
    from django.apps import apps

    if kind == "model_class":
        return apps.get_model(encoded[1])
    if kind == "model":
        _, label, pk, db = encoded
        model = apps.get_model(label)
        # The base manager: a custom default manager that filters rows out
        # must not make a committed row invisible to its own receiver.
        return model._base_manager.db_manager(db).get(pk=model._meta.pk.to_python(pk))
    if kind == "snapshot":
        from django.core import serializers

        _, label, data, db = encoded
        (deserialized,) = serializers.deserialize("json", data, using=db)
        instance = deserialized.object
        instance._state.db = db
        return instance
    raise ValueError(f"unknown argument encoding {kind!r} (a message from a newer fastdispatch?)")
