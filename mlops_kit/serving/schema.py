"""What a served model accepts: its training schema, checked on every instance before it predicts.

A model version names the data version it was trained on; that version's schema gives each column
its type. The model's own feature list (scikit-learn's ``feature_names_in_``) says which columns
it needs. An instance may carry any column of the training schema (an id, a slice column: they
are logged with the prediction), must carry every feature, and nothing else. A bad instance is
refused with a message that names the instance, the field and what was expected, before the
model sees it: bad input is never a server error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from mlops_kit.errors import MlopsKitError

Kind = Literal["integer", "number", "text", "boolean", "time", "scalar"]

_INT64: Final = (-(2**63), 2**63 - 1)
_LARGEST: Final = 1e308
_SHOWN: Final = 60
"""Longer field names and values are cut in messages (they are echoed to the client)."""


class InvalidInput(MlopsKitError):  # noqa: N818 - named for what the client sent
    """A request the server refuses: the message names the instance and field at fault."""


def _kind(type_name: str) -> Kind:
    """The JSON kind of an ibis type name (``int64``, ``float64``, ``string``, ``timestamp(...)``)."""
    name = type_name.lower().removeprefix("!")
    if name.startswith(("int", "uint")):
        return "integer"
    if name.startswith(("float", "decimal")):
        return "number"
    if name.startswith("bool"):
        return "boolean"
    if name.startswith(("timestamp", "date", "time")):
        return "time"
    if name.startswith("string"):
        return "text"
    return "scalar"


def shown(text: object) -> str:
    """``text`` quoted for a message, cut at a readable length."""
    value = str(text)
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


@dataclass(frozen=True)
class FieldSpec:
    """One column an instance may carry."""

    name: str
    kind: Kind
    required: bool


_EXPECTED: Final[dict[Kind, str]] = {
    "integer": "a 64-bit integer",
    "number": "a finite number",
    "text": "text",
    "boolean": "true or false",
    "time": "an ISO 8601 time as text",
    "scalar": "a number, text or true/false",
}


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "an array" if isinstance(value, list) else "an object"


class InputSchema:
    """The fields a model version accepts, in the training data's column order.

    Args:
        fields: every accepted column; the required ones are the model's features.
    """

    def __init__(self, fields: Sequence[FieldSpec]) -> None:
        self.fields = {spec.name: spec for spec in fields}
        self.required = [spec.name for spec in fields if spec.required]

    @classmethod
    def for_model(
        cls, training_schema: Sequence[Mapping[str, str]] | None, features: Sequence[str] | None
    ) -> InputSchema:
        """The schema of a model with ``features`` trained on data of ``training_schema``.

        Args:
            training_schema: ``[{"name", "type"}]`` of the training data version (``None`` when the
                version records no training data: each feature is then any scalar).
            features: the columns the model needs (``None`` when it does not say: every training
                column is accepted, none required).
        """
        needed = set(features or ())
        specs = [
            FieldSpec(column["name"], _kind(column["type"]), column["name"] in needed)
            for column in training_schema or ()
        ]
        known = {spec.name for spec in specs}
        specs += [FieldSpec(name, "scalar", True) for name in features or () if name not in known]
        return cls(specs)

    def describe(self) -> dict[str, str]:
        """Field → kind, the required ones first (what the readiness route shows)."""
        ordered = sorted(self.fields.values(), key=lambda spec: not spec.required)
        return {spec.name: spec.kind for spec in ordered}

    def check(self, instances: Any) -> list[dict[str, Any]]:
        """Return ``instances`` as rows of plain values, or refuse them.

        Raises:
            InvalidInput: ``instances`` is not a non-empty list of objects, or an instance lacks a
                feature, carries an unknown field or a value of the wrong type.
        """
        if not isinstance(instances, list) or not instances:
            raise InvalidInput(
                'the body must be {"instances": [{"feature": value, ...}, ...]} with at least one '
                f"instance; got {_json_kind(instances)} for instances"
            )
        return [self._row(index, instance) for index, instance in enumerate(instances)]

    def _row(self, index: int, instance: Any) -> dict[str, Any]:
        if not isinstance(instance, dict):
            raise InvalidInput(
                f"instance {index} is {_json_kind(instance)}: send an object of feature -> value"
            )
        unknown = [name for name in instance if name not in self.fields]
        if unknown:
            raise InvalidInput(
                f"instance {index}: unknown field {shown(unknown[0])}: the model takes "
                f"{', '.join(self.required) or 'the training columns'}"
            )
        missing = [name for name in self.required if name not in instance]
        if missing:
            raise InvalidInput(f"instance {index}: missing feature {shown(missing[0])}")
        return {
            name: self._value(index, self.fields[name], value) for name, value in instance.items()
        }

    @staticmethod
    def _value(index: int, spec: FieldSpec, value: Any) -> Any:
        converted = _CONVERTERS[spec.kind](value)
        if converted is not _REFUSED:
            return converted
        raise InvalidInput(
            f"instance {index}: field {shown(spec.name)} must be {_EXPECTED[spec.kind]}, got "
            f"{_json_kind(value)}" + (f" {shown(value)}" if isinstance(value, str) else "")
        )


_REFUSED: Final = object()


def _integer(value: Any) -> Any:
    if value is None:
        return math.nan  # a missing number, as pandas reads it in training
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    return value if is_int and _INT64[0] <= value <= _INT64[1] else _REFUSED


def _number(value: Any) -> Any:
    if value is None:
        return math.nan
    if not isinstance(value, int | float) or isinstance(value, bool) or abs(value) >= _LARGEST:
        return _REFUSED
    # json reads 1e999 as infinity: a model never saw one in training.
    return float(value) if math.isfinite(value) else _REFUSED


def _time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return _REFUSED


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else _REFUSED


_CONVERTERS: Final[dict[Kind, Callable[[Any], Any]]] = {
    "integer": _integer,
    "number": _number,
    "text": lambda value: value if isinstance(value, str) else _REFUSED,
    "boolean": lambda value: value if isinstance(value, bool) else _REFUSED,
    "time": _time,
    "scalar": _scalar,
}
