"""Hypothesis strategies that damage a valid result the way hand edits, other tools and bad copies do:
a value of the wrong type, a missing field, an index or offset out of range, an unknown span kind, a huge
or non-finite number, an extra list item, pairs swapped or repeated."""
from __future__ import annotations

import copy
import json
import math

from hypothesis import strategies as st

SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-3, max_value=60), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.sampled_from([10 ** 400, -1, 0, 1, 2 ** 63, 0.5, 1.5, -0.0, 1e308, -1e308, 5e-324, math.nan, math.inf,
                     -math.inf, 100.0000001]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["high", "", "1-1", "omission", "wording", "furniture", "NaN", "<b>x</b>", "0"]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=5),
    st.lists(st.lists(SCALARS, max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=6), SCALARS, max_size=3),
    st.builds(lambda a, b, k: [a, b, k], st.integers(-5, 300), st.integers(-5, 300),
              st.sampled_from(["omission", "bogus", "wording", "", "name"])),
    st.builds(lambda a, b, k, p: [a, b, k, p], st.integers(-5, 300), st.integers(-5, 300),
              st.sampled_from(["omission", "bogus", "number"]), SCALARS),
)


def paths(value, prefix=()):
    """Every path into a JSON value, the root included."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for n, v in enumerate(value):
            out.extend(paths(v, (*prefix, n)))
    return out


def _parent(data, path):
    node = data
    for part in path[:-1]:
        node = node[part]
    return node


def mutate(data, draw, rounds: int = 3):
    """A copy of `data` with one to `rounds` damages, drawn with hypothesis' `draw`."""
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(min_value=1, max_value=rounds))):
        where = [p for p in paths(data) if p]
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = _parent(data, path)
        key = path[-1]
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "append", "duplicate", "swap",
                                   "shift", "plausible", "plausible", "null"]))
        if op == "replace":
            parent[key] = draw(VALUES)
        elif op == "delete":
            del parent[key]
        elif op == "append" and isinstance(parent[key], list):
            parent[key].append(draw(VALUES))
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(min_value=0, max_value=len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
        elif op == "plausible":  # a value of the right kind, so that damage that loads is rendered too
            parent[key] = draw(_plausible(parent[key]))
        elif op == "null":
            parent[key] = None
        elif op == "shift" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = parent[key] + draw(st.sampled_from([1, -1, 1000, 0.5, 10 ** 20]))
        else:
            parent[key] = draw(VALUES)
    return data


TEXTS = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", " ", "<script>alert(1)</script>", "**bold** `code` $x$", "مرحبا بالعالم", "a\nb\tc\r", "\u200b",
     "x" * 3000, "1-1", "0-1", "furniture", "{{ }} %s %d"]))


def _plausible(value):
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=0, max_value=max(3, value + 3))
    if isinstance(value, float):
        return st.one_of(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=100),
                         st.sampled_from([0.0, 1.0, 100.0, 0.5]))
    if isinstance(value, str):
        return TEXTS
    if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], int):  # a span
        return st.builds(lambda a, n, k, p: [a, a + n, k, *p], st.integers(0, 40), st.integers(0, 40),
                         st.sampled_from(["omission", "addition", "wording", "name", "boundary"]),
                         st.one_of(st.just([]), st.tuples(st.floats(min_value=0, max_value=1)).map(list)))
    return st.just(value)


def as_bytes(data) -> bytes:
    """As a file would hold it (NaN and Infinity written the way Python writes them)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=True).encode("utf-8")
