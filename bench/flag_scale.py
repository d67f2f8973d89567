"""Where the flag puts DEMETR's sentences: quantiles of flag(reference, MT) and flag(reference, perturbed MT).

The figures behind the flag's SCALE (docs/how-it-works.md, docs/benchmarks.md). Same data, scorer and
items as bench/demetr.py (../shared/eval/demetr-dev beside the checkout; exit 2 when it is missing), whose
pass-rate table it prints too, from the same scores.

    .venv/bin/python bench/flag_scale.py [--limit N] [--model M]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import demetr  # bench/demetr.py, beside this script

QUANTILES = (0.25, 0.5, 0.75)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=demetr.DEFAULT_DATA)
    ap.add_argument("--model", default=demetr.DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, default=None, help="first N items of each file only")
    args = ap.parse_args(argv)
    if not demetr.have_data(args.data):
        return 2
    data, skipped = demetr.load(args.data, args.limit)
    items = [it for file_items in data.values() for it in file_items]
    scorer = demetr.PairScorer(demetr.get_encoder(args.model))
    scorer.prepare([t for it in items for t in (it["eng"], it["mt"], it["pert"])])
    print(demetr.table(demetr.evaluate(data, scorer), skipped))
    print()
    print("| flag | pairs | " + " | ".join(f"q{int(q * 100)}" for q in QUANTILES) + " | share >= 0.5 |")
    print("|---|---:|" + "---:|" * (len(QUANTILES) + 1))
    for kind in ("flag", "flag_plain"):
        if kind == "flag" and not scorer.use_tokens:
            continue
        for side in ("mt", "pert"):
            # each distinct pair once, as the pass rates count it
            values = np.array([scorer(a, b)[kind] for a, b in {(it["eng"], it[side]) for it in items}])
            qs = " | ".join(f"{np.quantile(values, q):.2f}" for q in QUANTILES)
            label = f"{'with' if kind == 'flag' else 'without'} token vectors, (reference, {side})"
            print(f"| {label} | {len(values)} | {qs} | {np.mean(values >= 0.5):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
