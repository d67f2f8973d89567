"""A long upload through the dashboard's engine path: how long it takes and how often its progress bar moves.

The dashboard scores an upload with `compare(decode(bytes, name), ..., Settings(mode=...), encoder=...,
progress=...)` (app.py's `score`, with the model loaded once per server); this runs the same call in a
fresh process on the book set of bench/speed.py (../shared/eval: mac-dev chapters, then bible-nt verses,
one sentence a line) and reports the wall time of the call (the model already loaded, as on a running
server), the number of progress reports, the longest wait between two, and the bar's last fraction.

--checkout runs another checkout's engine in the same way (e.g. an archive of main for a before/after);
--rounds alternates the checkouts so that they meet the same load.

    .venv/bin/python bench/dashboard_progress.py --sentences 10000
    .venv/bin/python bench/dashboard_progress.py --sentences 10000 --checkout /tmp/main-copy --rounds 2
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r'''
import json, sys, time
from comparator import compare
from comparator.core.documents import decode
from comparator.core.embed.encoder import get_encoder
from comparator.dashboard import views
try:
    from comparator.core.settings import Settings
except ImportError:
    Settings = None
a, b, mode = sys.argv[1], sys.argv[2], sys.argv[3]
enc = get_encoder()
enc.encode(["warm up"])
doc_a = decode(open(a, "rb").read(), "a.txt")
doc_b = decode(open(b, "rb").read(), "b.txt")
events = []
t0 = time.perf_counter()
def progress(stage, done, total):
    events.append((time.perf_counter() - t0, views.progress_fraction(stage, done, total)))
kw = {"settings": Settings(mode=mode)} if Settings else {"mode": mode}
result = compare(doc_a, doc_b, encoder=enc, progress=progress, **kw)
wall = time.perf_counter() - t0
times = [0.0] + [t for t, _ in events] + [wall]
print(json.dumps({"wall_s": wall, "reports": len(events), "longest_gap_s": max(y - x for x, y in zip(times, times[1:])),
                  "last_fraction": events[-1][1] if events else None, "pairs": len(result.pairs)}))
'''


def main() -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    from speed import EVAL, build_book

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=10000, help="A and B together")
    ap.add_argument("--checkout", action="append", default=[], help="another checkout to run beside this one")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    if not (EVAL / "mac-dev").exists():
        print(f"bench/dashboard_progress.py: evaluation data not found at {EVAL}", file=sys.stderr)
        return 2
    print(f"# command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    checkouts = [str(ROOT)] + [str(Path(c).resolve()) for c in args.checkout]
    with tempfile.TemporaryDirectory() as tmp:
        inp = build_book(args.sentences, Path(tmp))
        worker = Path(tmp) / "worker.py"
        worker.write_text(WORKER)
        print(f"\n{inp['a']} / {inp['b']} sentences, --mode lines, the model loaded before the call\n")
        print("| checkout | wall s | progress reports | longest wait s | last fraction |")
        print("|---|---|---|---|---|")
        for r in range(args.rounds):
            for c in (checkouts if r % 2 == 0 else checkouts[::-1]):
                env = dict(os.environ, PYTHONPATH=c)
                out = subprocess.run([sys.executable, str(worker), *map(str, inp["project"]), inp["mode"]], cwd=c,
                                     env=env, capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(out.stderr[-2000:])
                row = json.loads(out.stdout.strip().splitlines()[-1])
                name = "this" if c == str(ROOT) else c
                print(f"| {name} | {row['wall_s']:.1f} | {row['reports']} | {row['longest_gap_s']:.1f} | "
                      f"{row['last_fraction']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
