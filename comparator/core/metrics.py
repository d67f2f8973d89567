"""The metrics, in one registry: each has a name (its field in pairs and corpus), a label, a direction,
bounds, the digits it is shown with, and, for sacrebleu's, the signature that makes a figure reproducible.
Views, renderers, systems, history and batch read `METRICS`; a new metric is one entry here (and its
sentence/corpus function).

The reference side (A) is the reference; the rendering under review (B) is the hypothesis.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from comparator.core import parallel


@dataclass(frozen=True)
class Metric:
    name: str  # the field in pairs and in corpus
    label: str  # as people write it
    higher_is_better: bool
    bounds: tuple[float, float]
    digits: int  # shown with this many decimals
    sacrebleu: str | None = None  # the sacrebleu class behind it (None: computed by the engine)
    optional: bool = False  # computed only when asked (TER)
    description: str = ""


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("cosine", "cosine", True, (0.0, 1.0), 3, description="embedding cosine of the two sides"),
    Metric("chrf", "chrF", True, (0.0, 100.0), 1, "CHRF", description="character n-gram F-score (sacrebleu)"),
    Metric("bleu", "BLEU", True, (0.0, 100.0), 1, "BLEU", description="word n-gram precision (sacrebleu)"),
    Metric("ter", "TER", False, (0.0, 100.0), 1, "TER", optional=True,
           description="edits per reference word (sacrebleu)"),
)}
# the sacrebleu metrics, in the order corpus scores are reported (the always-computed ones first)
SACREBLEU = tuple(sorted((m.name for m in METRICS.values() if m.sacrebleu),
                         key=lambda n: (METRICS[n].optional, n)))

# computed in every run, for every corpus and system: what tables of corpus scores show
CORPUS = tuple(n for n in SACREBLEU if not METRICS[n].optional)


def wanted(ter: bool = False) -> tuple[str, ...]:
    """The sacrebleu metrics a run computes: the optional ones only when asked."""
    return tuple(n for n in SACREBLEU if not METRICS[n].optional or (n == "ter" and ter))


@dataclass(frozen=True)
class SentenceScores:
    bleu: float | None  # None: not computed (the sides are in different languages)
    chrf: float | None
    ter: float | None = None


@lru_cache(maxsize=None)
def _metrics():
    import sacrebleu.metrics as sm

    out = {name: getattr(sm, METRICS[name].sacrebleu)() for name in SACREBLEU}
    out["sent_bleu"] = sm.BLEU(effective_order=True)  # sentence BLEU needs effective order
    for name in SACREBLEU:  # a signature needs one evaluation to know the reference count
        out[name].corpus_score(["x"], [["x"]])
    return out


def signature(name: str) -> str:
    return str(_metrics()[name].get_signature())


def _sentence_scorer(m: dict, name: str):
    return m["sent_bleu"] if name == "bleu" else m[name]


def sentence_scores(reference: str, hypothesis: str, ter: bool = False) -> SentenceScores:
    m = _metrics()
    return SentenceScores(**{name: round(_sentence_scorer(m, name).sentence_score(hypothesis, [reference]).score, 4)
                             for name in wanted(ter)})


def corpus_scores(references: list[str], hypotheses: list[str], ter: bool = False) -> dict:
    """Corpus scores with signatures; None scores when there is nothing to score."""
    m = _metrics()
    names = wanted(ter)
    out: dict = {}
    base = [n for n in names if not METRICS[n].optional]
    for group in (base, [n for n in names if METRICS[n].optional]):
        out.update({name: None for name in group})
        out.update({f"{name}_signature": signature(name) for name in group})
    if hypotheses:
        for name in names:
            out[name] = round(m[name].corpus_score(hypotheses, [references]).score, 4)
    return out


def scores(references: list[str], hypotheses: list[str], ter: bool = False) -> tuple[list[SentenceScores], dict]:
    """`sentence_scores` of each pair and `corpus_scores` of them all, with the same numbers, from one
    extraction of sacrebleu's statistics: a sentence score is computed from its statistics and the corpus
    score from their sum, as sacrebleu's own sentence_score and corpus_score do, so each pair is read once
    instead of twice."""
    m = _metrics()
    corpus = corpus_scores([], [], ter)  # the signatures and the None scores of an empty corpus
    if not hypotheses:
        return [], corpus
    names = wanted(ter)

    def part(items, report=None):  # (sentence scores, statistics) of each pair: a chunk on any core
        hyps, refs = [h for _, h in items], [[r for r, _ in items]]
        stats = {name: m[name]._extract_corpus_statistics(hyps, refs) for name in names}
        return [(SentenceScores(**{name: round(_sentence_scorer(m, name)._aggregate_and_compute([stats[name][i]]).score, 4)
                                   for name in names}), {name: stats[name][i] for name in names})
                for i in range(len(hyps))]

    done = parallel.map_chunks(part, list(zip(references, hypotheses)))
    for name in names:
        corpus[name] = round(m[name]._aggregate_and_compute([st[name] for _, st in done]).score, 4)
    return [s for s, _ in done], corpus
