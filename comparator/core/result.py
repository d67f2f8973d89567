"""The result types every front end reads: made once by the engine, serialised as the CLI's JSON,
and loaded back from it by the dashboard. Nothing here computes scores.
"""
from __future__ import annotations

import json
import copy
from dataclasses import dataclass, field, fields
from typing import Any

from comparator.core.marks.rule import MARK_THRESHOLD, MarkRule

SCHEMA_VERSION = 1


def json_object(text: str, key: str, what: str) -> dict[str, Any]:
    """A JSON object that has `key`, or an InputError saying what the text is not."""
    from comparator.core.errors import InputError

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply") from None
    if not isinstance(data, dict) or key not in data:
        raise InputError(f"not {what}: no '{key}'")
    return data


@dataclass
class Pair:
    a: list[int]  # sentence indices of A (reference); empty for a sentence only in B
    b: list[int]  # sentence indices of B (rendering under review); empty for a sentence only in A
    a_text: str
    b_text: str
    cosine: float | None
    bleu: float | None
    chrf: float | None
    flag: float
    a_spans: list[list] = field(default_factory=list)  # [start, end, kind, p] offsets into a_text
    b_spans: list[list] = field(default_factory=list)
    ter: float | None = None
    type: str = ""  # "1-1", "1-2", "0-1", ..., or "furniture"
    furniture: bool = False
    confidence: float | None = None
    severity: float | None = None  # expected MQM error points (minor 1, major 5); None: older result, one-sided

    @property
    def one_sided(self) -> bool:
        return not self.a or not self.b


@dataclass
class Comparison:
    a_sentences: list[str]
    b_sentences: list[str]
    pairs: list[Pair]
    corpus: dict[str, Any]
    settings: dict[str, Any]
    a_paragraphs: list[int] = field(default_factory=list)
    b_paragraphs: list[int] = field(default_factory=list)
    a_furniture: list[int] = field(default_factory=list)
    b_furniture: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    # the two sides' languages (languages.Languages.to_dict); None in results made before it was kept
    languages: dict[str, Any] | None = None

    @property
    def cross_lingual(self) -> bool:
        return bool(self.languages and self.languages.get("cross_lingual"))

    def to_dict(self) -> dict[str, Any]:
        """What `dataclasses.asdict` gives (fields in order, every list and dict a copy), written out: asdict
        deep-copies each of a book's hundred thousand spans through its generic recursion (2 s at 11k
        sentences)."""
        out: dict[str, Any] = {}
        for name in _COMPARISON_FIELDS:
            value = getattr(self, name)
            if name == "pairs":
                value = [_pair_dict(p) for p in value]
            elif isinstance(value, (list, dict)):
                value = copy.deepcopy(value)
            out[name] = value
        return out

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Comparison":
        """A result read back (a JSON file, the run history): checked against docs/result.schema.json and
        for what a schema cannot say (comparator.core.validate); the first problem is one InputError line."""
        from comparator.core.validate import check_comparison

        check_comparison(data)
        return cls._build(data)

    @classmethod
    def _build(cls, data: dict[str, Any]) -> "Comparison":
        # JSON Schema counts 3.0 as an integer; indices and offsets are used as Python ints
        def ints(xs):
            return [int(x) for x in xs]

        # a file whose marks were drawn from another line of p (settings.mark_threshold; 0.35 before the
        # mark rule): its p put on this version's scale, so that its marks stay the spans it marked
        line = (data.get("settings") or {}).get("mark_threshold")
        rescale = (MarkRule(span=float(line)) if isinstance(line, (int, float)) and 0 < line < 1
                   and line != MARK_THRESHOLD else None)

        def p_of(s):
            if rescale is None or len(s) < 4 or not isinstance(s[3], (int, float)) or isinstance(s[3], bool):
                return list(s[3:])
            return [round(rescale.scale(s[3]), 4), *s[4:]]

        def spans(xs):
            return [[int(s[0]), int(s[1]), *s[2:3], *p_of(s)] for s in xs]

        pairs = []
        for p in data["pairs"]:
            kw = {k: v for k, v in p.items() if k in Pair.__dataclass_fields__}
            kw.update(a=ints(p["a"]), b=ints(p["b"]), a_spans=spans(p["a_spans"]), b_spans=spans(p["b_spans"]))
            pairs.append(Pair(**kw))
        kw = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "pairs"}
        for k in ("a_paragraphs", "b_paragraphs", "a_furniture", "b_furniture"):
            if k in kw:
                kw[k] = ints(kw[k])
        kw.setdefault("settings", {})
        if rescale is not None:
            kw["settings"] = {**kw["settings"], "mark_threshold": MARK_THRESHOLD, "mark_threshold_read": line}
        return cls(pairs=pairs, **kw)

    @classmethod
    def from_json(cls, text: str) -> "Comparison":
        return cls.from_dict(json_object(text, "pairs", "a comparison result"))

    def counts(self) -> dict[str, int]:
        """Pairs by alignment type, sentences only in A / only in B, furniture units."""
        out: dict[str, int] = {}
        for p in self.pairs:
            out[p.type] = out.get(p.type, 0) + 1
        out["only_in_a"] = sum(len(p.a) for p in self.pairs if p.a and not p.b and not p.furniture)
        out["only_in_b"] = sum(len(p.b) for p in self.pairs if p.b and not p.a and not p.furniture)
        out["furniture"] = len(self.a_furniture) + len(self.b_furniture)
        return out


_PAIR_FIELDS = tuple(f.name for f in fields(Pair))
_COMPARISON_FIELDS = tuple(f.name for f in fields(Comparison))


def _pair_dict(p: Pair) -> dict[str, Any]:
    d = {name: getattr(p, name) for name in _PAIR_FIELDS}
    d["a"], d["b"] = list(p.a), list(p.b)
    d["a_spans"] = [list(sp) for sp in p.a_spans]
    d["b_spans"] = [list(sp) for sp in p.b_spans]
    return d
