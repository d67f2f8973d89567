"""Several renderings of one reference: each scored by the engine, then ranked with paired bootstrap
resampling (sacrebleu's significance tools), the first system as the baseline.

Systems may align differently to the reference (one merges reference sentences 3 and 4, another keeps
them apart; one drops a sentence, another adds one). Bootstrap resampling needs the same segments for
every system, so the unit here is a *reference segment*: a run of reference sentences that no system
splits. Two neighbouring reference sentences share a segment when any system aligned them to one pair.
For each system, a segment's hypothesis is the text of that system's pairs whose reference sentences
fall in it, in document order; a reference sentence the system left out gives an empty hypothesis (the
omission costs it), and a sentence found only in the system (an addition) joins the segment of the
reference sentence before it (the first segment if none), so that added text costs precision as it
would in any corpus BLEU. Page furniture is left out on both sides, as in the engine's corpus scores.

The segment-level BLEU and chrF are therefore corpus scores over the shared segments; they differ from
each system's own `corpus` scores (over its aligned pairs only) when a system drops or adds sentences.

Pure: no UI, no printing (the renderers are in comparator.render.systems). `compare_systems` returns a
`SystemsComparison`, serialised as the JSON of
`python -m comparator compare`.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Callable

from comparator import __version__
from comparator.core.documents import Document, normalise, read_text
from comparator.core.errors import InputError
from comparator.core.metrics import CORPUS
from comparator.core.marks import FLAG_THRESHOLD
from comparator.core.result import Comparison, json_object
from comparator.core.settings import Settings

DEFAULT_SAMPLES = 1000
# sacrebleu's paired tests read their seed from this variable (default 12345): results are reproducible.
SEED_ENV = "SACREBLEU_SEED"
SIGNIFICANCE_LEVEL = 0.05
SCHEMA_VERSION = 1

ProgressFn = Callable[[str, int, int], None]


@dataclass
class Segment:
    a: list[int]  # reference sentence indices, consecutive
    reference: str  # the reference sentences joined by one space
    hypotheses: list[str]  # per system, in system order
    pairs: list[list[int]]  # per system: indices into that system's `pairs`
    # per system: sentence chrF of the hypothesis against the reference (0 for an empty one; None when the
    # reference and the systems are in different languages)
    chrf: list[float | None]
    flag: list[float]  # per system: the highest flag among its pairs here (1.0 when it left the segment out)
    disagreement: float  # highest minus lowest chrF over the systems (across languages: of 100 x the flag)


@dataclass
class SystemsComparison:
    reference_name: str
    names: list[str]
    systems: list[Comparison]
    table: list[dict[str, Any]]
    significance: dict[str, Any] | None
    segments: list[Segment]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "systems",
            "reference_name": self.reference_name,
            "settings": self.settings,
            "table": self.table,
            "significance": self.significance,
            # each system keeps the whole `score` contract (a_sentences, b_sentences, pairs, corpus, ...)
            "systems": [{"name": n, **c.to_dict()} for n, c in zip(self.names, self.systems)],
            "segments": [asdict(s) for s in self.segments],
            "notes": self.notes,
            "schema": self.schema,
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SystemsComparison":
        """A systems comparison read back: checked as Comparison.from_dict checks one (comparator.core.validate)."""
        from comparator.core.validate import check_systems

        check_systems(data)
        systems = data["systems"]
        names = [s["name"] for s in systems]
        results = [Comparison._build({k: v for k, v in s.items() if k != "name"}) for s in systems]
        segments = [Segment(**{k: v for k, v in s.items() if k in Segment.__dataclass_fields__})
                    for s in data.get("segments") or []]
        for seg in segments:
            seg.a = [int(i) for i in seg.a]
            seg.pairs = [[int(i) for i in p] for p in seg.pairs]
        return cls(reference_name=str(data.get("reference_name", "")), names=names, systems=results,
                   table=list(data.get("table") or []), significance=data.get("significance"),
                   segments=segments, settings=dict(data.get("settings") or {}),
                   notes=list(data.get("notes") or []), schema=int(data.get("schema", SCHEMA_VERSION)))

    @classmethod
    def from_json(cls, text: str) -> "SystemsComparison":
        return cls.from_dict(json_object(text, "systems", "a systems comparison"))

    def ranked(self) -> list[dict[str, Any]]:
        """The table rows best first (by rank)."""
        return sorted(self.table, key=lambda r: (r["rank"], r["system"]))

    def most_disputed(self, n: int | None = None) -> list[int]:
        """Segment positions, the most disputed first (largest chrF spread, then flag spread)."""
        order = sorted(range(len(self.segments)),
                       key=lambda i: (-self.segments[i].disagreement,
                                      -(max(self.segments[i].flag) - min(self.segments[i].flag)), i))
        return order if n is None else order[:n]


def unique_names(names: list[str]) -> list[str]:
    """Names made unique by a #2, #3 suffix where they repeat."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        name = name or "system"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def default_name(path: str) -> str:
    base = os.path.basename(str(path).rstrip("/\\")) or str(path)
    stem, ext = os.path.splitext(base)
    return stem if ext and stem else base


def compare_systems(
    reference: str | Document,
    systems: list[tuple[str, str | Document]],
    settings: Settings | None = None,
    *,
    encoder=None,
    n_samples: int = DEFAULT_SAMPLES,
    flag_threshold: float = FLAG_THRESHOLD,
    progress: ProgressFn | None = None,
    **overrides,
) -> SystemsComparison:
    """Score every system against the reference with the engine (`settings`, and keyword arguments named
    like its fields, as for `compare`), then rank them with paired bootstrap resampling over the shared
    reference segments, the first system as the baseline."""
    from comparator.core.pipeline import compare

    if not systems:
        raise InputError("give at least one system to compare")
    if n_samples < 1:
        raise InputError("the number of bootstrap samples must be at least 1")
    ref = reference if isinstance(reference, Document) else read_text(reference, "reference")
    names = unique_names([n for n, _ in systems])
    results = []
    for k, (_, doc) in enumerate(systems):
        stage = f"system {k + 1}/{len(systems)}"
        results.append(compare(ref, doc, settings, encoder=encoder, **overrides,
                               progress=(lambda s, d, t, _st=stage: progress(f"{_st} {s}", d, t)) if progress else None))
    return rank_systems(ref.name, names, results, n_samples=n_samples, flag_threshold=flag_threshold)


def rank_systems(reference_name: str, names: list[str], results: list[Comparison],
                 n_samples: int = DEFAULT_SAMPLES, flag_threshold: float = FLAG_THRESHOLD) -> SystemsComparison:
    """The system table, significance and segments from already scored systems (same reference)."""
    if len(names) != len(results) or not results:
        raise InputError("one name per system")
    first = results[0]
    for name, r in zip(names[1:], results[1:]):
        if r.a_sentences != first.a_sentences:
            raise InputError(f"{name}: not scored against the same reference sentences as {names[0]}")
    groups = reference_segments(results)
    per_system = [_segment_hypotheses(r, groups) for r in results]
    refs = [normalise(" ".join(first.a_sentences[i] for i in g)) for g in groups]
    cross = any(r.cross_lingual for r in results)
    segments = _segments(first, groups, refs, results, per_system, cross)
    notes: list[str] = []
    significance = None
    if cross:
        notes.append("the reference and the systems are in different languages: BLEU and chrF are not computed and "
                     "there is no significance test; the systems are ranked by mean cosine, then flagged pairs")
    elif groups:
        significance = paired_bootstrap(names, [[normalise(h) for h in hyps] for hyps, _ in per_system], refs,
                                        n_samples)
    else:
        notes.append("no reference sentence to score (empty reference or only page furniture): no significance")
    table = _table(names, results, significance, flag_threshold)
    settings = {
        "mode": first.settings.get("mode"),
        "model": first.settings.get("model"),
        "backend": first.settings.get("backend"),
        "version": __version__,
        "baseline": names[0],
        "flag_threshold": flag_threshold,
        "units": "reference segments: runs of reference sentences that no system splits",
        "reference_name": reference_name,
    }
    return SystemsComparison(reference_name=reference_name, names=list(names), systems=list(results),
                             table=table, significance=significance, segments=segments, settings=settings,
                             notes=notes)


def flagged(result: Comparison, threshold: float = FLAG_THRESHOLD) -> int:
    """Pairs with flag >= threshold, furniture left out (one-sided pairs have flag 1.0 and count)."""
    return sum(1 for p in result.pairs if not p.furniture and p.flag is not None and p.flag >= threshold)


def reference_segments(results: list[Comparison]) -> list[list[int]]:
    """Runs of content reference sentences such that no system's pair crosses a run's border."""
    first = results[0]
    furniture = set(first.a_furniture)
    content = [i for i in range(len(first.a_sentences)) if i not in furniture]
    joined: set[int] = set()  # i in joined: sentence i and the next content sentence share a segment
    for r in results:
        for p in r.pairs:
            if not p.furniture:
                joined.update(p.a[:-1])
    groups: list[list[int]] = []
    for i in content:
        if groups and groups[-1][-1] in joined:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _segment_hypotheses(result: Comparison, groups: list[list[int]]) -> tuple[list[str], list[list[int]]]:
    """One hypothesis per reference segment for this system, and the pairs that went into it."""
    where = {i: g for g, members in enumerate(groups) for i in members}
    texts: list[list[str]] = [[] for _ in groups]
    pairs: list[list[int]] = [[] for _ in groups]
    current: int | None = None
    pending: list[int] = []  # additions before the first reference sentence: they join the first segment

    def put(g: int, n: int) -> None:
        if result.pairs[n].b:
            texts[g].append(result.pairs[n].b_text)
        pairs[g].append(n)

    for n, p in enumerate(result.pairs):
        if p.furniture or (not p.a and not p.b):
            continue
        if p.a:
            g = where.get(p.a[0])
            if g is None:
                continue
            current = g
            for m in pending:
                put(g, m)
            pending = []
            put(g, n)
        elif current is None:
            pending.append(n)
        else:
            put(current, n)
    if groups:
        for m in pending:
            put(0, m)
    return [" ".join(t) for t in texts], pairs


def _segments(first, groups, refs, results, per_system, cross: bool = False) -> list[Segment]:
    from comparator.core import metrics

    out = []
    for g, members in enumerate(groups):
        hyps = [hyps[g] for hyps, _ in per_system]
        idx = [pairs[g] for _, pairs in per_system]
        flags = []
        for r, ids in zip(results, idx):
            fl = [r.pairs[i].flag for i in ids if r.pairs[i].flag is not None]
            flags.append(round(max(fl), 4) if fl else 1.0)
        if cross:
            chrf = [None] * len(hyps)
            spread = round(100 * (max(flags) - min(flags)), 4)
        else:
            chrf = [metrics.sentence_scores(refs[g], normalise(h)).chrf if h.strip() else 0.0 for h in hyps]
            spread = round(max(chrf) - min(chrf), 4)
        out.append(Segment(a=list(members), reference=" ".join(first.a_sentences[i] for i in members),
                           hypotheses=hyps, pairs=idx, chrf=chrf, flag=flags, disagreement=spread))
    return out


@lru_cache(maxsize=None)
def _test_metrics():
    import sacrebleu.metrics as sm

    from comparator.core.metrics import CORPUS, METRICS

    return {name: getattr(sm, METRICS[name].sacrebleu)() for name in CORPUS}


def _seed() -> str:
    return os.environ.get(SEED_ENV, "12345")


def paired_bootstrap(names: list[str], hypotheses: list[list[str]], references: list[str],
                     n_samples: int = DEFAULT_SAMPLES) -> dict[str, Any]:
    """sacrebleu's paired bootstrap resampling (Koehn 2004, as in Moses' script): for each system, BLEU and
    chrF with the mean and 95% confidence half-width over the resamples, and for each system but the
    baseline (the first) the p-value of its difference from the baseline."""
    from sacrebleu.significance import PairedTest

    from comparator.core.metrics import METRICS

    m = _test_metrics()
    labels = {name: METRICS[name].label for name in m}
    test = PairedTest(list(zip(names, hypotheses)), {labels[n]: scorer for n, scorer in m.items()}, [references],
                      test_type="bs", n_samples=n_samples, n_jobs=1)
    signatures, scores = test()
    keys = {name: next(k for k in scores if k.startswith(labels[name])) for name in m}
    systems = []
    for pos, name in enumerate(names):
        # sacrebleu counts resampled differences strictly above the observed one, so a system identical to
        # the baseline (observed difference 0, every resampled difference 0) would get p = 1/(n+1): say 1.
        same = pos > 0 and hypotheses[pos] == hypotheses[0]
        entry: dict[str, Any] = {"name": name, "baseline": pos == 0, "identical_to_baseline": same}
        for metric, key in keys.items():
            res = scores[key][pos]
            p = None if res.p_value is None else (1.0 if same else round(float(res.p_value), 4))
            entry[metric] = {"score": _r(res.score), "mean": _r(res.mean), "ci": _r(res.ci), "p_value": p}
        systems.append(entry)
    return {
        "test": "paired bootstrap resampling",
        "tool": "sacrebleu.significance.PairedTest (test_type='bs')",
        "n_samples": n_samples,
        "seed": _seed(),
        "baseline": names[0],
        "segments": len(references),
        "level": SIGNIFICANCE_LEVEL,
        **{f"{name}_signature": str(signatures[key]) for name, key in keys.items()},
        "systems": systems,
    }


def _r(x, digits: int = 4):
    return None if x is None else round(float(x), digits)


def _table(names, results, significance, threshold) -> list[dict[str, Any]]:
    rows = []
    sig = {s["name"]: s for s in (significance or {}).get("systems", [])}
    for name, r in zip(names, results):
        s = sig.get(name, {})
        counts = r.counts()
        row: dict[str, Any] = {"system": name, "rank": 0}
        for metric in CORPUS:
            m = s.get(metric) or {}
            row[metric] = m.get("score")
            row[f"{metric}_mean"] = m.get("mean")
            row[f"{metric}_ci"] = m.get("ci")
            row[f"{metric}_p"] = m.get("p_value")
            row[f"{metric}_significant"] = (None if m.get("p_value") is None
                                            else bool(m["p_value"] < SIGNIFICANCE_LEVEL))
        row.update({
            "mean_cosine": r.corpus.get("mean_cosine"),
            "flagged": flagged(r, threshold),
            "pairs_scored": r.corpus.get("pairs_scored"),
            "only_in_reference": counts.get("only_in_a", 0),
            "only_in_system": counts.get("only_in_b", 0),
            "corpus_bleu": r.corpus.get("bleu"),
            "corpus_chrf": r.corpus.get("chrf"),
        })
        rows.append(row)
    # Rank by segment chrF (more stable than BLEU on short texts), then BLEU, then fewer flagged pairs.
    # (across languages there is no chrF or BLEU: mean cosine, then flagged pairs, decide)
    order = sorted(range(len(rows)), key=lambda i: (-(rows[i]["chrf"] or 0.0), -(rows[i]["bleu"] or 0.0),
                                                    -(rows[i]["mean_cosine"] or 0.0) if rows[i]["chrf"] is None
                                                    else 0.0, rows[i]["flagged"], i))
    for rank, i in enumerate(order, 1):
        rows[i]["rank"] = rank
    return rows
