"""Per-pair and corpus scores from sacrebleu (BLEU, chrF, optional TER), built once and reused.

The reference side (A) is the reference; the rendering under review (B) is the hypothesis. Every
corpus score carries sacrebleu's signature so that figures are reproducible and comparable.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class SentenceScores:
    bleu: float
    chrf: float
    ter: float | None = None


@lru_cache(maxsize=None)
def _metrics():
    from sacrebleu.metrics import BLEU, CHRF, TER

    out = {
        "sent_bleu": BLEU(effective_order=True),
        "bleu": BLEU(),
        "chrf": CHRF(),
        "ter": TER(),
    }
    for name in ("bleu", "chrf", "ter"):  # a signature needs one evaluation to know the reference count
        out[name].corpus_score(["x"], [["x"]])
    return out


def sentence_scores(reference: str, hypothesis: str, ter: bool = False) -> SentenceScores:
    m = _metrics()
    bleu = m["sent_bleu"].sentence_score(hypothesis, [reference]).score
    chrf = m["chrf"].sentence_score(hypothesis, [reference]).score
    t = m["ter"].sentence_score(hypothesis, [reference]).score if ter else None
    return SentenceScores(round(bleu, 4), round(chrf, 4), None if t is None else round(t, 4))


def corpus_scores(references: list[str], hypotheses: list[str], ter: bool = False) -> dict:
    """Corpus BLEU/chrF (and TER) with signatures; None scores when there is nothing to score."""
    m = _metrics()
    out: dict = {
        "bleu": None,
        "chrf": None,
        "bleu_signature": str(m["bleu"].get_signature()),
        "chrf_signature": str(m["chrf"].get_signature()),
    }
    if ter:
        out["ter"] = None
        out["ter_signature"] = str(m["ter"].get_signature())
    if not hypotheses:
        return out
    out["bleu"] = round(m["bleu"].corpus_score(hypotheses, [references]).score, 4)
    out["chrf"] = round(m["chrf"].corpus_score(hypotheses, [references]).score, 4)
    if ter:
        out["ter"] = round(m["ter"].corpus_score(hypotheses, [references]).score, 4)
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
    refs = [list(references)]
    names = ("bleu", "chrf", "ter") if ter else ("bleu", "chrf")
    stats = {name: m[name]._extract_corpus_statistics(hypotheses, refs) for name in names}
    sentence = {"bleu": m["sent_bleu"], "chrf": m["chrf"], "ter": m["ter"]}
    per = {name: [round(sentence[name]._aggregate_and_compute([s]).score, 4) for s in stats[name]] for name in names}
    out = [SentenceScores(b, c, per["ter"][i] if ter else None) for i, (b, c) in enumerate(zip(per["bleu"], per["chrf"]))]
    for name in names:
        corpus[name] = round(m[name]._aggregate_and_compute(stats[name]).score, 4)
    return out, corpus
