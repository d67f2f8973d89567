"""Checking a saved result before it is used: the JSON Schema of the result (result.schema.json, the same
file as docs/result.schema.json), then what a schema cannot say (span offsets inside their text, every
sentence index in exactly one pair and in order, lists of a systems comparison that go with its systems).

The first problem found is raised as one InputError line that names the field, for example
"pairs[3].flag: expected a number, got 'high'". jsonschema is imported here only.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from comparator.core.errors import InputError

SCHEMA_FILE = Path(__file__).with_name("result.schema.json")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The result's JSON Schema (draft 2020-12)."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def _validator(definition: str):
    import jsonschema

    full = schema()
    # one definition of the file as the root, with all the definitions it refers to
    root = {"$schema": full["$schema"], "$defs": full["$defs"], "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(root)


# ---- one-line messages -------------------------------------------------------------------------------

def path_text(path) -> str:
    """pairs[3].a_spans[0] for the path ("pairs", 3, "a_spans", 0)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the result"


def shown(value: Any) -> str:
    """A value as an error message quotes it: short, one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    text = repr(value)
    if isinstance(value, int) and len(text) > 24:
        return f"an integer of {len(text)} digits"
    return text if len(text) <= 60 else text[:57] + "..."


_TYPES = {"number": "a number", "integer": "an integer", "string": "a string", "array": "a list",
          "object": "an object", "boolean": "true or false", "null": "null"}


def _expected_type(types) -> str:
    types = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPES.get(t, t) for t in types)


def _range(sub: dict[str, Any]) -> str:
    lo, hi = sub.get("minimum"), sub.get("maximum")
    kind = "an integer" if sub.get("type") == "integer" else "a number"
    if lo is not None and hi is not None:
        return f"{kind} from {lo} to {hi}"
    return f"{kind} of at least {lo}" if lo is not None else f"{kind} of at most {hi}"


def _message(error) -> str:
    where = path_text(error.absolute_path)
    v, value, sub = error.validator, error.instance, error.schema
    if v == "type":
        return f"{where}: expected {_expected_type(error.validator_value)}, got {shown(value)}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{where}: expected {_range(sub)}, got {shown(value)}"
    if v == "required":
        missing = next((k for k in error.validator_value if isinstance(value, dict) and k not in value), "?")
        return f"{where}: missing field '{missing}'"
    if v == "enum":
        return f"{where}: expected one of {', '.join(map(str, error.validator_value))}, got {shown(value)}"
    if v == "const":
        return f"{where}: expected {shown(error.validator_value)}, got {shown(value)}"
    if v in ("minItems", "maxItems"):
        lo, hi = sub.get("minItems"), sub.get("maxItems")
        want = f"{lo} to {hi}" if lo is not None and hi is not None else (f"at least {lo}" if v == "minItems"
                                                                             else f"at most {hi}")
        return f"{where}: expected {want} items, got {len(value)}"
    if v == "uniqueItems":
        return f"{where}: the same index appears twice"
    return f"{where}: {error.message.splitlines()[0][:200]}"


def _first_schema_problem(data: Any, definition: str) -> str | None:
    errors = _validator(definition).iter_errors(data)
    # the first in document order: the shortest path first among errors on one item, else by position
    best = None
    for error in errors:
        key = tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path)
        if best is None or _before(key, best[0]):
            best = (key, error)
    return None if best is None else _message(best[1])


def _before(a: tuple, b: tuple) -> bool:
    # a list position decides first (pairs[2] before pairs[10]); within one item the shallower problem wins
    for x, y in zip(a, b):
        if x != y:
            if x[0] == 0 and y[0] == 0:
                return x[1] < y[1]
            return False
    return len(a) < len(b)


# ---- what a schema cannot say --------------------------------------------------------------------------

def _non_finite(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _non_finite(v, (*path, k))
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from _non_finite(v, (*path, n))


def _indices(data: dict[str, Any], side: str, prefix: tuple) -> str | None:
    """Every sentence index of one side in exactly one pair, in document order."""
    n_sentences = len(data[f"{side}_sentences"])
    label = "reference (A)" if side == "a" else "rendering (B)"
    expected = 0
    for k, pair in enumerate(data["pairs"]):
        for j, i in enumerate(pair[side]):
            where = path_text((*prefix, "pairs", k, side, j))
            if i >= n_sentences:
                return f"{where}: sentence {shown(i)} is out of range (the {label} has {n_sentences} sentences)"
            if i < expected:
                return f"{where}: sentence {i} is in an earlier pair too, or out of order"
            if i > expected:
                return (f"{where}: sentence {expected} of the {label} is in no pair (every sentence is in exactly "
                        f"one pair, in order)")
            expected += 1
    if expected < n_sentences:
        return (f"{path_text((*prefix, f'{side}_sentences', expected))}: in no pair (every sentence is in exactly "
                f"one pair, in order)")
    return None


def _comparison_problem(data: dict[str, Any], prefix: tuple = ()) -> str | None:
    for k, pair in enumerate(data["pairs"]):
        if not pair["a"] and not pair["b"]:
            return f"{path_text((*prefix, 'pairs', k))}: holds no sentence of either side"
        for side in ("a", "b"):
            text = pair[f"{side}_text"]
            for j, span in enumerate(pair[f"{side}_spans"]):
                start, end = span[0], span[1]
                if not start <= end <= len(text):
                    return (f"{path_text((*prefix, 'pairs', k, f'{side}_spans', j))}: offsets {shown(start)} to "
                            f"{shown(end)} are not inside {side}_text ({len(text)} characters)")
    for side in ("a", "b"):
        problem = _indices(data, side, prefix)
        if problem:
            return problem
        n = len(data[f"{side}_sentences"])
        for j, i in enumerate(data.get(f"{side}_furniture") or []):
            if i >= n:
                return (f"{path_text((*prefix, f'{side}_furniture', j))}: sentence {shown(i)} is out of range "
                        f"({n} sentences)")
        paragraphs = data.get(f"{side}_paragraphs") or []
        if paragraphs and len(paragraphs) != n:
            return f"{path_text((*prefix, f'{side}_paragraphs'))}: {len(paragraphs)} entries for {n} sentences"
    return None


def _systems_problem(data: dict[str, Any]) -> str | None:
    systems = data["systems"]
    for k, system in enumerate(systems):
        problem = _comparison_problem(system, ("systems", k))
        if problem:
            return problem
    names = [s["name"] for s in systems]
    for k, name in enumerate(names):
        if name in names[:k]:
            return f"systems[{k}].name: {shown(name)} names two systems"
    n_ref = len(systems[0]["a_sentences"]) if systems else 0
    for k, seg in enumerate(data.get("segments") or []):
        where = ("segments", k)
        for key in ("hypotheses", "pairs", "chrf", "flag"):
            if len(seg[key]) != len(systems):
                return f"{path_text((*where, key))}: {len(seg[key])} entries for {len(systems)} systems"
        for j, i in enumerate(seg["a"]):
            if i >= n_ref:
                return (f"{path_text((*where, 'a', j))}: sentence {shown(i)} is out of range (the reference has "
                        f"{n_ref} sentences)")
        for s, pairs in enumerate(seg["pairs"]):
            for j, i in enumerate(pairs):
                if i >= len(systems[s]["pairs"]):
                    return (f"{path_text((*where, 'pairs', s, j))}: pair {shown(i)} is out of range (system "
                            f"{shown(names[s])} has {len(systems[s]['pairs'])} pairs)")
    return None


def _check(data: Any, definition: str, semantic) -> None:
    if not isinstance(data, dict):
        raise InputError(f"the result: expected an object, got {shown(data)}")
    bad = next(_non_finite(data), None)
    if bad is not None:
        value = data
        for part in bad:
            value = value[part]
        raise InputError(f"{path_text(bad)}: expected a finite number, got {shown(value)}")
    problem = _first_schema_problem(data, definition) or semantic(data)
    if problem:
        raise InputError(problem)


def check_comparison(data: Any) -> None:
    """Raise an InputError (one line, naming the field) unless `data` is a valid comparison result."""
    _check(data, "comparison", _comparison_problem)


def check_systems(data: Any) -> None:
    """Raise an InputError (one line) unless `data` is a valid systems comparison."""
    _check(data, "systems", _systems_problem)
