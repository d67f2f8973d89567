"""How much an offline grammar checker (harper-py, Automattic's Harper in Rust, Apache 2.0) would add to the
marks: its lints on the MT side of the MQM news pairs (../shared/eval/mqm-news-zhen/, read by mqm_data.py)
against the raters' error spans, per lint kind, split by whether the lint's words all occur in the reference
(the issue's filter against A: most such lints are names the checker does not know), and its speed here.

Character precision is over the lints' non-space characters; "share of error chars" is the part of all the
raters' error characters a kind's lints cover. harper-py is not a dependency of the project: install it into
the virtualenv to run this (`.venv/bin/python -m pip install harper-py==0.2.0`).

    .venv/bin/python bench/harper_lints.py [--limit N] [--json OUT]
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import mqm_data  # noqa: E402

_WORD = re.compile(r"\w+")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=mqm_data.DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=0, help="only the first N pairs")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not mqm_data.have_data(args.data):
        return 2
    try:
        from harper import Linter
    except ImportError:
        print("harper_lints: harper-py is not installed; run .venv/bin/python -m pip install harper-py==0.2.0",
              file=sys.stderr)
        return 2
    rows = mqm_data.read_rows(args.data)
    if args.limit:
        rows = rows[:args.limit]
    t = time.perf_counter()
    linter = Linter()
    build_s = time.perf_counter() - t
    stats: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])  # lints, chars, error chars
    words = err_total = 0
    lint_s = 0.0
    for r in rows:
        a, b = r["reference"], r["target"]
        words += len(b.split())
        err = [False] * len(b)
        for s, e, _sev in r["errors"]:
            for k in range(max(0, s), min(e, len(b))):
                err[k] = True
        err_total += sum(1 for k, c in enumerate(b) if err[k] and not c.isspace())
        in_a = {w.lower() for w in _WORD.findall(a)}
        t = time.perf_counter()
        lints = linter.lint(b, language="plaintext")
        lint_s += time.perf_counter() - t
        for lint in lints:
            s, e = lint.span.start, lint.span.end
            ws = _WORD.findall(b[s:e])
            key = lint.lint_kind + (" (words in A)" if ws and all(w.lower() in in_a for w in ws) else "")
            chars = [k for k in range(s, e) if not b[k].isspace()]
            x = stats[key]
            x[0] += 1
            x[1] += len(chars)
            x[2] += sum(err[k] for k in chars)
    table = sorted(stats.items(), key=lambda kv: -kv[1][2])
    print(f"harper-py on {len(rows)} MT sentences ({words} words): Linter() {build_s:.1f} s, linting "
          f"{lint_s:.1f} s = {1e3 * lint_s / max(1, words) * 1e3:.0f} ms per 1,000 words; "
          f"{err_total} error characters in all\n")
    print("| lint kind | lints | characters | precision | share of error chars |")
    print("|---|---:|---:|---:|---:|")
    for k, (n, c, e) in table:
        print(f"| {k} | {n} | {c} | {e / max(1, c):.3f} | {e / max(1, err_total):.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"pairs": len(rows), "words": words, "lint_s": lint_s, "build_s": build_s,
                                         "error_chars": err_total,
                                         "kinds": {k: dict(zip(("lints", "chars", "error_chars"), v))
                                                   for k, v in table}}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
