#!/usr/bin/env python3
"""Where plain strict F1 is lost on bible-zhen, and whether the text itself shows the gold's verse groups.

Data: ../shared/eval/bible-zhen/ beside the checkout (001.zh, 001.en, 001.align; see ../shared/eval/README.md).
Missing data: exit 2 with a message.

The gold of bible-zhen groups lines by verse: a verse of two sentences a side is one 2-2 bead, though each
Chinese sentence translates one English sentence. This script runs the engine as bench/align_zhen.py does
(compare(), mode lines, the multilingual model) and reports:

1. every gold bead the engine misses, by kind: split inside the gold bead (all the predicted pairs touching it
   lie inside it, e.g. 2-2 paired 1-1 + 1-1) or crossing its boundary;
2. whether anything in the two texts tells a two-sentence verse (gold 2-2) from two one-sentence verses in a
   row (gold 1-1, 1-1), the decision plain strict rewards: the area under the ROC curve of the cosines of
   the two diagonal pairs, the two off-diagonal pairs, the joined windows, and of each side's two sentences
   with each other. 0.5 is chance; a feature the aligner could use to group verses would lie far from it.

    .venv/bin/python bench/bible_groups.py --embed-cache /tmp/zhen.cache
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import align_bible as ab  # noqa: E402
import align_zhen as az  # noqa: E402

DEFAULT_DATA = az.DEFAULT_DATA / "bible-zhen"


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half (the Mann-Whitney U over |pos| |neg|)."""
    from scipy.stats import rankdata  # ties get their mean rank

    ranks = rankdata(np.concatenate([pos, neg]))
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def census(gold, pred) -> collections.Counter:
    ps = set(pred)
    p_of_a = {i: k for k, p in enumerate(pred) for i in p[0]}
    p_of_b = {j: k for k, p in enumerate(pred) for j in p[1]}
    out = collections.Counter()
    for g in gold:
        if g in ps or not (g[0] and g[1]):
            continue
        touching = [pred[k] for k in sorted({p_of_a[i] for i in g[0] if i in p_of_a}
                                            | {p_of_b[j] for j in g[1] if j in p_of_b})]
        inside = all(set(p[0]) <= set(g[0]) and set(p[1]) <= set(g[1]) for p in touching)
        kind = f"gold {len(g[0])}-{len(g[1])} "
        kind += ("split inside, into " + " + ".join(f"{len(p[0])}-{len(p[1])}" for p in touching)) if inside \
            else "crosses a predicted boundary"
        out[kind] += 1
    return out


def verse_features(gold, va, vb, wa, wb):
    """Cosines for gold 2-2 beads (label 1) and for two gold 1-1 beads in a row (label 0)."""
    rows = []
    for k, (ga, gb) in enumerate(gold):
        if len(ga) == 2 and len(gb) == 2:
            label = 1
        elif len(ga) == len(gb) == 1 and k + 1 < len(gold) and gold[k + 1] == ((ga[0] + 1,), (gb[0] + 1,)):
            label = 0
        else:
            continue
        i, j = ga[0], gb[0]
        rows.append((label, va[i] @ vb[j] + va[i + 1] @ vb[j + 1], va[i] @ vb[j + 1] + va[i + 1] @ vb[j],
                     wa[i] @ wb[j], va[i] @ va[i + 1], vb[j] @ vb[j + 1]))
    return np.array(rows, dtype=np.float64)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="the bible-zhen folder")
    ap.add_argument("--model", default="multilingual", help="embedding model, as the CLI's --model")
    ap.add_argument("--embed-cache", metavar="FILE", help="the on-disk vector store to read and fill")
    args = ap.parse_args(argv)
    d = Path(args.data)
    paths = [d / "001.zh", d / "001.en", d / "001.align"]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"bible_groups: evaluation data not found: {', '.join(missing)} (see ../shared/eval/README.md)",
              file=sys.stderr)
        return 2
    from comparator.core.align import window_texts
    from comparator.core.embed.encoder import get_encoder

    enc = get_encoder(args.model, "auto")
    enc.use_disk_cache(args.embed_cache)
    text_a, text_b = paths[0].read_text(encoding="utf-8"), paths[1].read_text(encoding="utf-8")
    la, lb = text_a.splitlines(), text_b.splitlines()
    gold, _ = az.oriented(az.read_gold(paths[2]), len(la), len(lb))
    kw = ab.compare_kwargs(enc, ab.align_params([], "bible_groups"), None)
    kw["mode"] = "lines"
    cmp, _ = ab.run_compare(text_a, text_b, kw)
    pred, _ = az.line_beads(cmp, text_a, text_b)
    plain = ab.scores(ab.counts(gold, pred))["f1_strict"]
    group = ab.scores(ab.counts(gold, ab.coarsen(pred, gold)))["f1_strict"]
    print(f"strict F1 {plain:.3f}, group-level {group:.3f} ({len(gold)} gold beads, {len(pred)} predicted)\n")
    print("| gold beads missed | count |\n|---|---|")
    for kind, n in census(gold, pred).most_common(12):
        print(f"| {kind} | {n} |")

    va, vb = enc.encode(la), enc.encode(lb)
    wa, wb = enc.encode(window_texts(la, 2)), enc.encode(window_texts(lb, 2))  # joined as the aligner's windows
    enc.close_disk_cache()
    r = verse_features(gold, va, vb, wa, wb)
    pos, neg = r[r[:, 0] == 1], r[r[:, 0] == 0]
    print(f"\ntwo-sentence verses (gold 2-2): {len(pos)}; two one-sentence verses in a row (gold 1-1, 1-1): "
          f"{len(neg)}\n\n| cosine | mean, 2-2 | mean, 1-1 + 1-1 | AUC |\n|---|---|---|---|")
    names = ("diagonal pairs, summed", "off-diagonal pairs, summed", "joined windows",
             "A's two sentences", "B's two sentences")
    for c, name in enumerate(names, 1):
        print(f"| {name} | {pos[:, c].mean():.3f} | {neg[:, c].mean():.3f} | {auc(pos[:, c], neg[:, c]):.3f} |")
    diff = r[:, 3] - r[:, 1] / 2
    print(f"| joined windows less the mean diagonal pair | {diff[r[:, 0] == 1].mean():.3f} | "
          f"{diff[r[:, 0] == 0].mean():.3f} | {auc(diff[r[:, 0] == 1], diff[r[:, 0] == 0]):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
