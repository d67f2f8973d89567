"""Where a run's time goes: CPU and wall seconds of each stage of one `compare()` call, in one process.

The stages are the engine's own functions, timed by wrapping them (no profiler, so the figures are not
inflated by it): the model's pass (`onnx._embed`, inside the windows and alignment), the aligner
(`align.align`), the pairs' scoring (`_score`: token evidence, spans and flags, sacrebleu), the JSON. CPU time
counts every thread of the process (ONNX Runtime runs on two here), so on a shared machine it is the
steadier figure. Inputs: bench/speed.py's book set (../shared/eval: mac-dev chapters, then bible-nt
verses, one sentence a line), or two files of your own.

    .venv/bin/python bench/stages.py --sentences 11000                  # cold: no stored vectors
    .venv/bin/python bench/stages.py --sentences 11000 --store /tmp/s.sqlite --runs 2   # fill, then re-run
    .venv/bin/python bench/stages.py --files a.txt b.txt --mode text --backend onnx-int8
"""
from __future__ import annotations

import argparse
import collections
import functools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=11000, help="size of the book set, A and B together")
    ap.add_argument("--files", nargs=2, metavar=("A", "B"), help="your own two files instead of the book set")
    ap.add_argument("--mode", default="lines", help="as the CLI's --mode (the book set is one sentence a line)")
    ap.add_argument("--backend", default="auto", help="as the CLI's --backend")
    ap.add_argument("--store", help="an on-disk vector store to use (a re-run reads what a run kept)")
    ap.add_argument("--runs", type=int, default=1, help="runs one after the other in this process's store")
    args = ap.parse_args()

    t0, w0 = time.process_time(), time.perf_counter()
    from comparator import compare
    from comparator.core import align, pipeline
    from comparator.core.embed import encoder as enc_mod
    from comparator.core.result import Comparison

    cpu: collections.Counter = collections.Counter()
    wall: collections.Counter = collections.Counter()

    def timed(owner, name, label):
        f = getattr(owner, name)

        @functools.wraps(f)
        def g(*a, **k):
            c, w = time.process_time(), time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                cpu[label] += time.process_time() - c
                wall[label] += time.perf_counter() - w
        setattr(owner, name, g)

    stages = ((pipeline, "_align_units", "windows + alignment (model pass included)"),
                               (enc_mod.OnnxEncoder, "_embed", "  model pass (ONNX Runtime)"),
                               (align, "align", "  aligner"),
                               (pipeline, "_score", "pairs scored (spans, flags, sacrebleu)"),
                               (pipeline, "_token_scores", "  token evidence"),
                               (pipeline.phrasing, "spans", "  spans"),
                               (pipeline.metrics, "scores", "  sacrebleu"),
                               (Comparison, "to_json", "JSON"))
    for owner, name, label in stages:
        timed(owner, name, label)
    if args.files:
        a, b = (Path(p).read_text(encoding="utf-8") for p in args.files)
    else:
        import speed

        if not (speed.EVAL / "mac-dev").is_dir():
            print("bench/stages.py: ../shared/eval not found (or give --files A B)", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory() as tmp:
            inp = speed.build_book(args.sentences, Path(tmp))
            a, b = (p.read_text(encoding="utf-8") for p in inp["project"])
    enc = enc_mod.get_encoder(backend=args.backend)
    if args.store:
        enc.use_disk_cache(args.store)
    cpu["imports and model load"] = time.process_time() - t0
    wall["imports and model load"] = time.perf_counter() - w0
    print(f"# command: .venv/bin/python {' '.join(sys.argv)}")
    for run in range(args.runs):
        for c in (cpu, wall):
            for k in list(c):
                if k != "imports and model load":
                    c[k] = 0.0
        c0, w1 = time.process_time(), time.perf_counter()
        result = compare(a, b, encoder=enc, mode=args.mode)
        result.to_json()
        cpu["whole run"], wall["whole run"] = time.process_time() - c0, time.perf_counter() - w1
        print(f"\nrun {run + 1}: {len(result.a_sentences)} / {len(result.b_sentences)} sentences, "
              f"{len(result.pairs)} pairs, backend {enc.backend}{', store ' + args.store if args.store else ''}\n")
        print("| stage | CPU s | wall s |\n|---|---:|---:|")
        for k in ("imports and model load", "whole run", *(label for _, _, label in stages)):
            print(f"| {k} | {cpu[k]:.2f} | {wall[k]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
