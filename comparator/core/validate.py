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
        return f"{text[:12]}… ({len(text)} digits)"
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
    if _fast(definition)(data):
        return None
    # jsonschema walks the result in document order and yields the first problem first: stop there
    error = next(iter(_validator(definition).iter_errors(data)), None)
    return None if error is None else _message(error)


# ---- a quick yes ---------------------------------------------------------------------------------------
# jsonschema takes about 2 ms a pair (a 3,000-pair result: seconds). The schema compiled into plain Python
# tests says "valid" in about 30 microseconds a pair. It may say "not sure" (False) where jsonschema would
# accept, never "valid" where it would not (tests/test_hostile_input.py holds it to that); every problem is
# then found and worded by jsonschema. A keyword it does not know leaves the whole check to jsonschema.

class _Unknown(Exception):
    pass


_IGNORED = {"$schema", "$id", "title", "description", "$comment", "examples", "default", "$defs"}


def _type_test(kinds: list[str]):
    kinds = set(kinds)
    plain = tuple(t for k, t in (("string", str), ("array", list), ("object", dict)) if k in kinds)
    number, integer = "number" in kinds, "integer" in kinds and "number" not in kinds
    boolean, null = "boolean" in kinds, "null" in kinds
    unknown = kinds - {"string", "array", "object", "number", "integer", "boolean", "null"}
    if unknown:
        raise _Unknown(", ".join(sorted(unknown)))

    def test(x, plain=plain):
        if x is None:
            return null
        if x is True or x is False:
            return boolean
        if plain and isinstance(x, plain):
            return True
        if isinstance(x, int):
            return number or integer
        if isinstance(x, float):
            return number or (integer and x.is_integer())
        return False

    return test


def _all(tests: list):
    if not tests:
        return lambda x: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda x: first(x) and second(x)
    tests = tuple(tests)

    def every(x):
        for t in tests:
            if not t(x):
                return False
        return True

    return every


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and x is not True and x is not False


def _compile(sub: Any, defs: dict, cache: dict):
    if sub is True or sub == {}:
        return lambda x: True
    if not isinstance(sub, dict):
        raise _Unknown(repr(sub))
    tests = []
    for key, value in sub.items():
        if key in _IGNORED:
            continue
        if key == "$ref":
            name = value.rpartition("/")[2]
            if not value.startswith("#/$defs/") or name not in defs:
                raise _Unknown(value)
            if name not in cache:
                cache[name] = None  # a definition that refers to itself: looked up when called
                cache[name] = _compile(defs[name], defs, cache)
            compiled = cache[name]
            tests.append(compiled if compiled is not None else (lambda x, name=name: cache[name](x)))
        elif key == "type":
            tests.append(_type_test([value] if isinstance(value, str) else list(value)))
        elif key == "minimum":
            tests.append(lambda x, lo=value: not _is_number(x) or not x < lo)
        elif key == "maximum":
            tests.append(lambda x, hi=value: not _is_number(x) or not x > hi)
        elif key == "required":
            tests.append(lambda x, req=tuple(value): not isinstance(x, dict) or all(k in x for k in req))
        elif key == "properties":
            props = tuple((k, _compile(v, defs, cache)) for k, v in value.items())

            def properties(x, props=props):
                if isinstance(x, dict):
                    for k, f in props:
                        if k in x and not f(x[k]):
                            return False
                return True

            tests.append(properties)
        elif key == "additionalProperties" and value is True:
            continue
        elif key == "prefixItems":
            fns = tuple(_compile(v, defs, cache) for v in value)

            def prefix(x, fns=fns):
                if isinstance(x, list):
                    for f, v in zip(fns, x):
                        if not f(v):
                            return False
                return True

            tests.append(prefix)
        elif key == "items":
            skip = len(sub.get("prefixItems", ()))

            def items(x, f=_compile(value, defs, cache), skip=skip):
                if isinstance(x, list):
                    for v in (x[skip:] if skip else x):
                        if not f(v):
                            return False
                return True

            tests.append(items)
        elif key == "minItems":
            tests.append(lambda x, n=value: not isinstance(x, list) or len(x) >= n)
        elif key == "maxItems":
            tests.append(lambda x, n=value: not isinstance(x, list) or len(x) <= n)
        elif key in ("enum", "const") and all(isinstance(v, str) for v in (value if key == "enum" else [value])):
            allowed = frozenset(value if key == "enum" else [value])
            tests.append(lambda x, allowed=allowed: isinstance(x, str) and x in allowed)
        elif key == "uniqueItems" and value is True:
            # sure only of lists of plain numbers (jsonschema tells 1 from true, and 1 from "1", but not 1 from
            # 1.0, as a set does not)
            tests.append(lambda x: not isinstance(x, list) or (
                all(type(v) in (int, float) for v in x) and len(set(x)) == len(x)))
        elif key == "allOf":
            tests.append(_all([_compile(v, defs, cache) for v in value]))
        elif key == "if":
            cond = _compile(value, defs, cache)
            then = _compile(sub.get("then", True), defs, cache)
            other = _compile(sub.get("else", True), defs, cache)
            tests.append(lambda x, c=cond, t=then, e=other: t(x) if c(x) else e(x))
        elif key in ("then", "else"):
            continue
        else:
            raise _Unknown(key)
    return _all(tests)


@lru_cache(maxsize=4)
def _fast(definition: str):
    defs = schema()["$defs"]
    try:
        return _compile({"$ref": f"#/$defs/{definition}"}, defs, {})
    except (_Unknown, KeyError, TypeError):  # a keyword added to the schema that this does not know
        return lambda x: False


# ---- what a schema cannot say --------------------------------------------------------------------------

def _non_finite(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _non_finite(v, (*path, k))
    elif isinstance(value, (list, tuple)):
        for n, v in enumerate(value):
            yield from _non_finite(v, (*path, n))


def _has_non_finite(data: Any) -> bool:
    # the json encoder walks plain JSON data in C, and refuses NaN and infinities itself
    try:
        json.dumps(data, allow_nan=False, check_circular=False)
        return False
    except ValueError:
        return True
    except TypeError:  # not plain JSON data (a tuple, a number type of its own): walked here
        stack = [data]
        while stack:
            v = stack.pop()
            if isinstance(v, float):
                if v - v != 0:  # NaN and infinities (inf - inf is NaN)
                    return True
            elif isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, (list, tuple)):
                stack.extend(v)
        return False


def _indices(data: dict[str, Any], side: str, prefix: tuple) -> str | None:
    """Every sentence index of one side in exactly one pair, in document order."""
    n_sentences = len(data[f"{side}_sentences"])
    label = "reference (A)" if side == "a" else "rendering (B)"
    expected = 0
    for k, pair in enumerate(data["pairs"]):
        for j, i in enumerate(pair[side]):
            where = path_text((*prefix, "pairs", k, side, j))
            if i >= n_sentences:
                return f"{where}: sentence index {shown(i)} is out of range (the {label} has {n_sentences} sentences)"
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
                return (f"{path_text((*prefix, f'{side}_furniture', j))}: sentence index {shown(i)} is out of range "
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
                return (f"{path_text((*where, 'a', j))}: sentence index {shown(i)} is out of range (the reference has "
                        f"{n_ref} sentences)")
        for s, pairs in enumerate(seg["pairs"]):
            for j, i in enumerate(pairs):
                if i >= len(systems[s]["pairs"]):
                    return (f"{path_text((*where, 'pairs', s, j))}: pair {shown(i)} is out of range (system "
                            f"{shown(names[s])} has {len(systems[s]['pairs'])} pairs)")
    return None


def _check(data: Any, definition: str, semantic) -> None:
    try:
        _check_inner(data, definition, semantic)
    except RecursionError:  # a hand-made file nested thousands deep
        raise InputError("the result is nested too deeply to be a result") from None


def _check_inner(data: Any, definition: str, semantic) -> None:
    if not isinstance(data, dict):
        raise InputError(f"the result: expected an object, got {shown(data)}")
    bad = next(_non_finite(data), None) if _has_non_finite(data) else None
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
