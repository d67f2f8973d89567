"""What checking a saved result costs, and how quickly endless inputs are refused (issue 16).

Loads one large result three ways, side by side in one run: json.loads + building the Comparison
unchecked, Comparison.from_json (the quick compiled check, then the semantic checks), and jsonschema alone
on the same data; prints the times and their ratios. Then times `score` refusing /dev/zero and an endless
pipe on standard input. Synthetic texts (the examples repeated), the hash model: needs no ../shared data.

    .venv/bin/python bench/load_checks.py [--copies 100]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=100, help="how many times the example texts are repeated")
    args = ap.parse_args()

    from comparator import compare
    from comparator.core import validate
    from comparator.core.result import Comparison

    a = "\n\n".join([(ROOT / "examples" / "reference.txt").read_text("utf-8")] * args.copies)
    b = "\n\n".join([(ROOT / "examples" / "machine.txt").read_text("utf-8")] * args.copies)
    result = compare(a, b, model="hash")
    text = result.to_json()
    data = json.loads(text)
    Comparison.from_json(text)  # warm: the schema read and compiled once
    validator = validate._validator("comparison")
    unchecked = _best(lambda: Comparison._build(json.loads(text)))
    checked = _best(lambda: Comparison.from_json(text))
    full = _best(lambda: list(validator.iter_errors(data)), repeat=1)
    print(f"{len(result.pairs)} pairs, {len(text) / 1e6:.1f} MB of JSON")
    print(f"  unchecked load      {unchecked:7.3f} s  1.00x")
    print(f"  checked load        {checked:7.3f} s  {checked / unchecked:.2f}x")
    print(f"  jsonschema alone    {full:7.3f} s  {full / unchecked:.2f}x")

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "comparator", "score"]
    machine = str(ROOT / "examples" / "machine.txt")
    start = time.perf_counter()
    r = subprocess.run([*cmd, "/dev/zero", machine, "--model", "hash"], capture_output=True, text=True, env=env,
                       timeout=600)
    print(f"score /dev/zero B: exit {r.returncode} in {time.perf_counter() - start:.2f} s: {r.stderr.strip()}")
    writer = subprocess.Popen([sys.executable, "-c", "import sys\nwhile True: sys.stdout.buffer.write(b'y\\n' * 65536)"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    try:
        r = subprocess.run([*cmd, "-", machine, "--model", "hash"], stdin=writer.stdout, capture_output=True,
                           text=True, env=env, timeout=600)
    finally:
        writer.kill()
        writer.wait()
    print(f"endless pipe | score - B: exit {r.returncode} in {time.perf_counter() - start:.2f} s: {r.stderr.strip()}")
    start = time.perf_counter()
    subprocess.run([*cmd[:-1], "--version"], capture_output=True, text=True, env=env, timeout=600)
    print(f"(--version, the start-up alone: {time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
