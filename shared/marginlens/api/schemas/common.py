"""Shapes every area's schemas use: money as a decimal string, a calendar day."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema

from marginlens.core.bounds import year_error


class Schema(BaseModel):
    """A request or response shape. Built on first use, not at import: most shapes serve only the
    OpenAPI document, which a function builds when asked for it (if ever)."""

    model_config = ConfigDict(defer_build=True)


Money = str  # an exact decimal, e.g. "0.000066"


def _day(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date, YYYY-MM-DD")
    error = year_error(date.fromisoformat(value).year)  # a ValueError names an impossible date
    if error is not None:
        raise ValueError(error)
    return value


# A UTC calendar day on the wire: validated, kept as the string the client sent.
Day = Annotated[str, AfterValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]


class JsonSchemaOf:
    """Annotation metadata, like pydantic's `WithJsonSchema`, whose schema is `inline_schema(type)`
    computed when a spec is generated rather than at import."""

    def __init__(self, schema_type: Any) -> None:
        self.schema_type = schema_type

    def __get_pydantic_json_schema__(self, _core_schema: Any, _handler: Any) -> dict[str, Any]:
        return inline_schema(self.schema_type)


def inline_schema(schema_type: Any) -> dict[str, Any]:
    """A JSON schema with its `$defs` inlined, to embed anywhere in the OpenAPI document."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(schema_type).json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
