"""Does building a merged pair's vector from its sentences' own change its cosine? (issue 14)

The engine runs every sentence through the model once: a side of two or more sentences gets the
token-count-weighted mean of its sentences' mean-pooled vectors (OnnxEncoder.pool_weights), where a second
pass would embed the joined text. The two differ only in the attention across the sentence boundary.
This runs compare() as a user would on real pairs of renderings, takes every two-sided pair, and embeds
each merged side's joined text too, then reports the Pearson r of the pair cosines (engine against
joined-text pass) over the merged pairs alone and over all pairs, the mean and largest difference, and how
many of the merged pairs would cross the dashboard's cosine colour bands or change their rank.

Data (../shared/eval): mac-dev chapters (.trans against .en, one sentence a line) and four books of
bible-nt as running text (Twentieth Century against Anderson's).

    .venv/bin/python bench/one_pass.py [--chapters N] [--books Mark,John,Acts,Romans] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(ROOT / "bench"))


def joined_cosines(enc, result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(engine cosines, joined-text cosines, merged?) of the result's two-sided pairs with a cosine."""
    from comparator.core.pipeline import _norm

    pairs = [p for p in result.pairs if p.a and p.b and not p.furniture and p.cosine is not None]
    merged = [len(p.a) > 1 or len(p.b) > 1 for p in pairs]
    texts = sorted({_norm(t) for p, m in zip(pairs, merged) if m for t in (p.a_text, p.b_text)})
    vec = dict(zip(texts, enc.encode(texts))) if texts else {}
    joined = []
    for p, m in zip(pairs, merged):
        if m:
            joined.append(float(np.clip(vec[_norm(p.a_text)] @ vec[_norm(p.b_text)], -1, 1)))
        else:
            joined.append(p.cosine)  # one sentence a side: the same text, the same vector
    return np.array([p.cosine for p in pairs]), np.array(joined), np.array(merged, dtype=bool)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", type=int, default=12, help="mac-dev chapters (default: all twelve)")
    ap.add_argument("--books", default="Mark,John,Acts,Romans")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not (EVAL / "mac-dev").is_dir() or not (EVAL / "bible-nt").is_dir():
        print("bench/one_pass.py: ../shared/eval (mac-dev, bible-nt) not found", file=sys.stderr)
        return 2
    from comparator import compare
    from comparator.core.embed.encoder import get_encoder

    import align_bible

    enc = get_encoder()
    if not hasattr(enc, "pool_weights"):
        print(f"bench/one_pass.py: the {enc.backend} encoder embeds joined texts itself", file=sys.stderr)
        return 2
    rows = []
    runs = []
    for trans in sorted((EVAL / "mac-dev").glob("*.trans"))[: args.chapters]:
        runs.append((f"mac-dev {trans.stem}", trans.read_text(encoding="utf-8"),
                     trans.with_suffix(".en").read_text(encoding="utf-8"), "lines"))
    data_a = align_bible.load_tsv(EVAL / "bible-nt" / "Twenty.tsv")
    data_b = align_bible.load_tsv(EVAL / "bible-nt" / "Anderson.tsv")
    for book in args.books.split(","):
        text = {}
        for side, data in (("a", data_a), ("b", data_b)):
            text[side] = "\n\n".join(" ".join(v for _, v in verses) for _, verses in sorted(data[book].items()))
        runs.append((f"bible-nt {book}", text["a"], text["b"], "text"))
    eng, join, merged = [], [], []
    for name, a, b, mode in runs:
        r = compare(a, b, encoder=enc, mode=mode)
        e, j, m = joined_cosines(enc, r)
        eng.append(e)
        join.append(j)
        merged.append(m)
        rows.append({"text": name, "pairs": int(len(e)), "merged": int(m.sum())})
        print(f"# {name}: {len(e)} pairs, {int(m.sum())} merged", flush=True)
    e, j, m = np.concatenate(eng), np.concatenate(join), np.concatenate(merged)
    d = e[m] - j[m]
    rank_e, rank_j = np.argsort(np.argsort(e)), np.argsort(np.argsort(j))
    out = {
        "pairs": int(len(e)), "merged_pairs": int(m.sum()),
        "r_all": round(float(np.corrcoef(e, j)[0, 1]), 4),
        "r_merged": round(float(np.corrcoef(e[m], j[m])[0, 1]), 4),
        "mean_diff_merged": round(float(d.mean()), 4), "mean_abs_diff_merged": round(float(np.abs(d).mean()), 4),
        "max_abs_diff_merged": round(float(np.abs(d).max()), 4),
        "spearman_all": round(float(np.corrcoef(rank_e, rank_j)[0, 1]), 4),
        "texts": rows,
    }
    print(f"\n| pairs | merged pairs | r, all pairs | r, merged pairs | mean diff (merged) | mean abs diff | "
          f"max abs diff | Spearman, all |\n|---|---|---|---|---|---|---|---|\n| {out['pairs']} | "
          f"{out['merged_pairs']} | {out['r_all']} | {out['r_merged']} | {out['mean_diff_merged']} | "
          f"{out['mean_abs_diff_merged']} | {out['max_abs_diff_merged']} | {out['spearman_all']} |")
    print(f"\n# command: .venv/bin/python {' '.join(sys.argv)}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
