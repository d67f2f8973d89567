"""The dashboard under load: 8 concurrent browser sessions on one server, each scoring its own input.

The scenario is bench/load_dashboard.py (which also prints its figures: `.venv/bin/python
bench/load_dashboard.py 8`): one `streamlit run app.py` on 127.0.0.1 and a free port, its log in
test-artifacts/load-server.log; one headless Chromium (/usr/bin/chromium) with 8 contexts driven at once
by Playwright's async API. Sessions 3 and 7 use the 'hash' model, the others the default packaged model.

Asserted: every session shows its own result (its marker in the side-by-side rows, no other session's
marker on its page, the corpus chrF, BLEU, mean cosine and aligned-pair count that comparator.compare
gives in this process for the same input and model, one row per pair); no error, exception or server
traceback; each model loaded once (the "loaded model" lines of the server's log); the server's peak RSS
(VmHWM) under RSS_BOUND_MB; it listens on 127.0.0.1 only; no file written during the run holds an
uploaded text; everything within per-step and overall timeouts. About 1-2 minutes on 2 busy cores.

Without /usr/bin/chromium (or Playwright) the test is skipped, unless REQUIRE_BROWSER=1 (then it fails).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from benchhelpers import bench_module

pytestmark = pytest.mark.load

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
SESSIONS = 8


@pytest.fixture(scope="module")
def scenario():
    with bench_module("load_dashboard") as mod:
        yield mod


@pytest.fixture(scope="module")
def bench(scenario):
    mod = scenario
    missing = None
    if not os.path.exists(mod.CHROMIUM):
        missing = f"{mod.CHROMIUM} is missing (apt-get install -y chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed"
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{missing} and REQUIRE_BROWSER=1")
        pytest.skip(missing)
    return mod


def test_inputs_are_distinct_and_markers_unique(scenario):
    bench = scenario
    pairs = [bench.make_pair(i) for i in range(SESSIONS)]
    assert len(set(pairs)) == SESSIONS
    for i, (ref, ren) in enumerate(pairs):
        for j in range(SESSIONS):
            assert (bench.marker(j) in ref + ren) == (i == j)
    sample = (ROOT / "examples" / "reference.txt").read_text() + (ROOT / "examples" / "machine.txt").read_text()
    assert not any(bench.marker(i) in sample for i in range(SESSIONS))


def test_eight_concurrent_sessions_each_get_their_own_result(bench):
    start = time.monotonic()
    fig = bench.run(SESSIONS, hash_every=4, log_path=ARTIFACTS / "load-server.log", artifacts=ARTIFACTS)
    elapsed = time.monotonic() - start
    problems = bench.check(fig)
    assert not problems, "\n".join(problems)
    assert len(fig["results"]) == SESSIONS and all(r.result_s > 0 for r in fig["results"])
    assert fig["model_loads"] == {"all-MiniLM-L6-v2": 1, "hash": 1}
    assert fig["peak_rss_mb"] < bench.RSS_BOUND_MB
    assert fig["listening"] and all(a.startswith("127.0.0.1:") for a in fig["listening"])
    assert elapsed < bench.OVERALL_S + bench.HEALTH_S + 120
    print(f"\n{SESSIONS} sessions: all results in {max(r.result_s for r in fig['results']):.1f} s; "
          f"latency after upload {min(r.latency_s for r in fig['results']):.1f}-"
          f"{max(r.latency_s for r in fig['results']):.1f} s; server peak RSS {fig['peak_rss_mb']:.0f} MB; "
          f"model loads {fig['model_loads']}")
