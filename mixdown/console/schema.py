"""The recipe's JSON Schema, generated from the processor registry.

Editors (VS Code, JetBrains, any JSON Schema validator) use it to check and complete recipes as people type.
:meth:`mixdown.console.recipe.Recipe.from_dict` remains the authority (it also checks names that refer to each
other: routes, sends, unique names); the schema covers the structure and every parameter's type and range.

Regenerate the committed copy with ``python -m mixdown.console.schema > docs/recipe.schema.json``.
"""

from __future__ import annotations

import json

import mixdown.dsp
from mixdown.console.recipe import SCHEMA_NAME, SCHEMA_VERSION
from mixdown.dsp.gain_sharing import GAIN_SHARING_PARAMS, WEIGHT_RANGE_DB
from mixdown.dsp.params import Param

__all__ = ["recipe_json_schema"]


def _params_schema(table) -> dict:
    params = {}
    for e in table:
        if isinstance(e, Param):
            params[e.name] = {"type": "number", "minimum": e.min, "maximum": e.max, "default": e.default,
                              "description": f"{e.description} ({e.unit})" if e.unit else e.description}
        else:
            params[e.name] = {"enum": list(e.choices), "default": e.default, "description": e.description}
    return {"type": "object", "properties": params, "additionalProperties": False}


def _step_schema(proc) -> dict:
    return {
        "type": "object",
        "description": proc.summary,
        "properties": {
            "type": {"const": proc.name},
            "params": _params_schema(proc.table),
            "reason": {"type": "string"},
            "bypass": {"type": "boolean"},
        },
        "required": ["type"],
        "additionalProperties": False,
    }


def recipe_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of recipe files of the current version."""
    chain = {"type": "array", "items": {"$ref": "#/$defs/step"}}
    send = {
        "type": "object",
        "properties": {"to": {"type": "string", "minLength": 1}, "level_db": {"type": "number", "minimum": -120, "maximum": 12},
                       "reason": {"type": "string"}},
        "required": ["to", "level_db"],
        "additionalProperties": False,
    }
    name = {"type": "string", "minLength": 1}
    sends = {"type": "array", "items": {"$ref": "#/$defs/send"}}
    low, high = WEIGHT_RANGE_DB
    gain_sharing = {
        "type": "object",
        "description": "Dugan gain sharing over speech microphones, before their strips (see docs/speech.md).",
        "properties": {
            "tracks": {"type": "array", "minItems": 1, "uniqueItems": True, "items": name},
            "params": _params_schema(GAIN_SHARING_PARAMS),
            "weights_db": {"type": "object", "additionalProperties": {"type": "number", "minimum": low, "maximum": high}},
            "reason": {"type": "string"},
        },
        "required": ["tracks"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{SCHEMA_NAME} version {SCHEMA_VERSION}",
        "description": "A mix as data: channel strips, buses, FX returns and the master chain (see docs/recipe.md).",
        "type": "object",
        "properties": {
            "schema": {"const": SCHEMA_NAME},
            "version": {"const": SCHEMA_VERSION},
            "sample_rate": {"type": "integer", "minimum": 8000, "maximum": 384000},
            "tracks": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "properties": {"name": name, "source": name, "role": name, "route": name, "mute": {"type": "boolean"},
                               "chain": chain, "sends": sends},
                "required": ["name"], "additionalProperties": False}},
            "buses": {"type": "array", "items": {
                "type": "object", "properties": {"name": name, "chain": chain, "sends": sends},
                "required": ["name"], "additionalProperties": False}},
            "returns": {"type": "array", "items": {
                "type": "object", "properties": {"name": name, "chain": chain},
                "required": ["name"], "additionalProperties": False}},
            "master": {"type": "object", "properties": {"chain": chain}, "additionalProperties": False},
            "gain_sharing": gain_sharing,
            "notes": {"type": "object"},
        },
        "required": ["tracks"],
        "additionalProperties": False,
        "$defs": {
            "send": send,
            "step": {"oneOf": [_step_schema(p) for p in sorted(mixdown.dsp.PROCESSORS.values(), key=lambda p: p.name)]},
        },
    }


if __name__ == "__main__":
    print(json.dumps(recipe_json_schema(), indent=2))
