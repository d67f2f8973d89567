"""Load on the dashboard: N concurrent browser sessions on one server, each scoring its own pair of texts.

One `streamlit run app.py` on 127.0.0.1 (a free port; its stdout and stderr to a log file), one headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright's async API) with N contexts, all driven at
once. Each session opens the page (the bundled sample, scored on open), chooses its model, uploads a
reference and a rendering of its own (each pair carries a marker word no other session has), and waits
for its result. Then it checks that its page shows its own result: its marker in the side-by-side rows,
no other session's marker anywhere on the page, and the corpus chrF, BLEU and aligned-pair count that
comparator.compare gives for the same input and model in this process.

Server-side figures: how often each model was loaded (the "loaded model" lines in the server's log),
the server's peak RSS (VmHWM in /proc/PID/status), the addresses it listens on, and whether any file
written during the run holds an uploaded text.

    .venv/bin/python bench/load_dashboard.py [N] [--hash-every K] [--json]

prints the figures: time to all results, per-session latency, server peak RSS, model loads. Everything
is bounded: per-step timeouts, an overall timeout, N at most 32, and only 127.0.0.1.
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
DEFAULT_MODEL = "all-MiniLM-L6-v2"
HASH_MODEL = "hash"
MAX_SESSIONS = 32
FIRST_LOAD_S = 300   # the first page load scores the sample; the first session also loads the model
STEP_S = 180         # one rerun (an upload, a model change) under load on a busy 2-core machine
OVERALL_S = 900      # the whole scenario
HEALTH_S = 90        # the server becomes healthy
# The bound the load test asserts on the server's peak RSS (VmHWM), N = 8: the server holds Python,
# Streamlit, pandas/altair, ONNX Runtime with the packaged model and 8 sessions' results (measured: about
# 0.45 GB; the torch fallback, where ONNX Runtime is missing, needs more). 1.5 GB leaves room for that
# and still catches a per-session copy of the model or an unbounded cache.
RSS_BOUND_MB = 1536

# ---- inputs: a distinct small pair per session ----------------------------------------------------------

CITIES = ["Harlow", "Brecon", "Alnwick", "Ludlow", "Kendal", "Whitby", "Tenby", "Buxton", "Settle", "Frome",
          "Hexham", "Ripon", "Thirsk", "Bude", "Louth", "Malton"]
THINGS = ["bridge", "library", "school", "harbour wall", "station", "market hall", "clinic", "footpath"]
MONTHS = ["January", "March", "April", "June", "July", "September", "October", "November"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
HOSTILE_A = "The notice read <img src=x onerror=alert(1)> and <script>alert(2)</script> in full."
HOSTILE_B = "The notice said <img src=x onerror=alert(1)> and <script>alert(2)</script> in full."


def marker(i: int) -> str:
    """A word that occurs in session i's texts only (fixed width, so none contains another)."""
    return f"Zq{i:03d}mark"


def make_pair(i: int) -> tuple[str, str]:
    """Session i's reference and rendering: a few sentences with its marker, and a rendering that
    differs in a session-specific way (swapped words, a dropped or an added sentence)."""
    m, city, thing = marker(i), CITIES[i % len(CITIES)], THINGS[i % len(THINGS)]
    month, day, amount = MONTHS[i % len(MONTHS)], DAYS[i % len(DAYS)], 2 + 3 * i
    ref = [f"The {m} committee met in {city} on {day}.",
           f"It approved {amount} million pounds for the new {thing}.",
           f"Residents of {city} welcomed the decision after years of delay.",
           f"Work on the {thing} will start in {month} and last two years.",
           "The mayor said the plan was overdue."]
    ren = [f"The {m} committee met on {day} in {city}.",
           f"It has approved {amount} million pounds for the {thing} new.",
           f"The residents of {city} welcomed the decision after many years of delays.",
           f"Work on the {thing} starts in {month} and will last for two years.",
           "The mayor said that the plan was late."]
    if i % 3 == 1:
        del ren[2]
    if i % 3 == 2:
        ren.append(f"A second meeting in {city} is planned for next year.")
    if i % 2:
        ren[0], ren[1] = ren[0] + " " + ren[1], ""  # a merged sentence: a 2-1 pair
    if i % 4 == 0:  # hostile markup, which must reach the browser as text
        ref.append(HOSTILE_A)
        ren.append(HOSTILE_B)
    return " ".join(ref) + "\n", " ".join(s for s in ren if s) + "\n"


def model_for(i: int, hash_every: int) -> str:
    return HASH_MODEL if hash_every and i % hash_every == hash_every - 1 else DEFAULT_MODEL


# ---- the server -----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log_path: Path
    _log: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def status(self) -> dict[str, int]:
        """VmHWM and VmRSS of the server process, in kB."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0])
        return out

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text("utf-8", errors="replace")

    def model_loads(self) -> dict[str, int]:
        loads: dict[str, int] = {}
        for m in re.finditer(r"loaded model (\S+)", self.log_text()):
            loads[m.group(1)] = loads.get(m.group(1), 0) + 1
        return loads

    def listening(self) -> list[str]:
        """The local addresses of the server's listening TCP sockets (from /proc, by socket inode)."""
        inodes = set()
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        out = []
        for table, v6 in (("tcp", False), ("tcp6", True)):
            try:
                lines = Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    addr, port = cols[1].split(":")
                    raw = bytes.fromhex(addr)
                    if v6:
                        words = [raw[k:k + 4][::-1] for k in range(0, 16, 4)]
                        ip = socket.inet_ntop(socket.AF_INET6, b"".join(words))
                    else:
                        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
                    out.append(f"{ip}:{int(port, 16)}")
        return sorted(out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log:
            self._log.close()


def start_server(log_path: Path, python: str = sys.executable) -> Server:
    """`streamlit run app.py` on 127.0.0.1 and a free port, healthy, or an exception (and no server)."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [python, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}", log_path, log)
    deadline = time.monotonic() + HEALTH_S
    while True:
        if proc.poll() is not None:
            server.stop()
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"streamlit did not become healthy in {HEALTH_S} s; see {log_path}")
        time.sleep(0.3)


# ---- one browser session ------------------------------------------------------------------------------

@dataclass
class SessionResult:
    index: int
    model: str
    marker: str
    opened_s: float = 0.0        # from the start to the sample shown
    result_s: float = 0.0        # from the start to its own result shown
    latency_s: float = 0.0       # from uploading its rendering (B) to its result shown
    metrics: dict = field(default_factory=dict)
    side_text: str = ""
    page_text: str = ""
    rows: int = 0
    errors: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)   # alert()s: hostile markup come alive
    live_markup: int = 0                          # <img src=x> or <script>alert elements in the DOM
    exception: str = ""
    screenshot: str = ""


async def _settle(page, timeout_s: float) -> None:
    """Wait until the script run that the last action started has finished."""
    await page.wait_for_timeout(400)
    await page.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=timeout_s * 1000)


async def _metric(page, label: str) -> str:
    box = page.get_by_test_id("stMetric").filter(has_text=label).first
    return (await box.get_by_test_id("stMetricValue").inner_text()).strip()


async def run_session(browser, url: str, i: int, model: str, ref: str, ren: str, t0: float,
                      artifacts: Path | None = None) -> SessionResult:
    from playwright.async_api import expect

    res = SessionResult(i, model, marker(i))
    ctx = await browser.new_context(viewport={"width": 1440, "height": 1000})
    page = await ctx.new_page()

    async def on_dialog(dialog):
        res.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        await page.goto(url, timeout=FIRST_LOAD_S * 1000)
        await expect(page.get_by_test_id("stMetric").first).to_be_visible(timeout=FIRST_LOAD_S * 1000)
        await _settle(page, FIRST_LOAD_S)
        res.opened_s = time.monotonic() - t0

        box = page.get_by_role("textbox", name="Model")
        await box.fill(model)
        await box.press("Enter")
        await _settle(page, STEP_S)

        inputs = page.get_by_test_id("stFileUploaderDropzoneInput")
        name_a, name_b = f"ref-{res.marker}.txt", f"ren-{res.marker}.txt"
        await inputs.nth(0).set_input_files(files=[{"name": name_a, "mimeType": "text/plain",
                                                    "buffer": ref.encode("utf-8")}])
        await expect(page.get_by_text("Add the rendering (B) too")).to_be_visible(timeout=STEP_S * 1000)
        await _settle(page, STEP_S)
        t_b = time.monotonic()
        await inputs.nth(1).set_input_files(files=[{"name": name_b, "mimeType": "text/plain",
                                                    "buffer": ren.encode("utf-8")}])
        caption = page.get_by_test_id("stCaptionContainer").filter(has_text=name_b).first
        await expect(caption).to_be_visible(timeout=STEP_S * 1000)
        await _settle(page, STEP_S)
        await expect(page.get_by_test_id("stMetric").first).to_be_visible(timeout=STEP_S * 1000)
        now = time.monotonic()
        res.latency_s, res.result_s = now - t_b, now - t0

        for label in ("Corpus chrF", "Corpus BLEU", "Mean cosine", "Aligned pairs"):
            res.metrics[label] = await _metric(page, label)
        panel = page.get_by_role("tabpanel").filter(visible=True).first
        table = panel.locator("table").first
        res.side_text = await table.inner_text()
        res.rows = await table.locator("tbody tr").count()
        res.page_text = await page.locator("body").inner_text()
        res.errors = [await e.inner_text() for e in await page.get_by_test_id("stAlertContentError").all()]
        res.errors += [await e.inner_text() for e in await page.get_by_test_id("stException").all()]
        res.live_markup = await page.evaluate(
            "() => document.querySelectorAll('img[src=\"x\"], img[onerror]').length + "
            "[...document.scripts].filter(s => s.textContent.includes('alert(')).length")
    except Exception as exc:  # reported per session; the caller decides
        res.exception = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        if artifacts is not None:
            artifacts.mkdir(parents=True, exist_ok=True)
            res.screenshot = str(artifacts / f"load-session-{i}.png")
            try:
                await page.screenshot(path=res.screenshot, full_page=True, timeout=30_000)
            except Exception:
                res.screenshot = ""
    finally:
        await ctx.close()
    return res


async def _drive(url: str, specs: list[tuple[int, str, str, str]], artifacts: Path | None):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            t0 = time.monotonic()
            results = await asyncio.wait_for(
                asyncio.gather(*(run_session(browser, url, i, model, ref, ren, t0, artifacts)
                                 for i, model, ref, ren in specs)), timeout=OVERALL_S)
            return results, time.monotonic() - t0
        finally:
            await browser.close()


def _files_since(start: float, roots: list[Path], skip: tuple[str, ...]) -> list[Path]:
    out = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(skip)]
            for f in filenames:
                p = Path(dirpath) / f
                try:
                    st = p.lstat()
                except OSError:
                    continue
                if st.st_mtime >= start and p.is_file() and st.st_size < 50_000_000:
                    out.append(p)
    return out


def uploads_on_disk(start: float, markers: list[str], exclude: list[Path]) -> list[str]:
    """Files written since `start` under the temp folder and the project that hold an uploaded text."""
    skip = (".venv", ".git", "__pycache__", "playwright", ".org.chromium", "bash_jobs", "bash_tool")
    hits = []
    for p in _files_since(start, [Path(tempfile.gettempdir()), ROOT], skip):
        if any(p == e for e in exclude):
            continue
        try:
            data = p.read_bytes()
        except OSError:
            continue
        if any(m.encode() in data for m in markers):
            hits.append(str(p))
    return hits


def expected_results(specs) -> dict[int, dict]:
    """What comparator.compare gives for each session's input and model, as the dashboard shows it."""
    from comparator import compare
    from comparator.dashboard import views
    from comparator.core.documents import decode

    out = {}
    for i, model, ref, ren in specs:
        r = compare(decode(ref.encode(), f"ref-{marker(i)}.txt"), decode(ren.encode(), f"ren-{marker(i)}.txt"),
                    model=model)
        out[i] = {"Corpus chrF": views.fmt(r.corpus["chrf"], digits=2),
                  "Corpus BLEU": views.fmt(r.corpus["bleu"], digits=2),
                  "Mean cosine": views.fmt(r.corpus["mean_cosine"], "cosine"),
                  "Aligned pairs": str(r.corpus["pairs_scored"]), "pairs": len(r.pairs),
                  "b_texts": [p.b_text for p in r.pairs if p.b_text]}
    return out


def run(n: int = 8, hash_every: int = 4, log_path: Path | None = None, artifacts: Path | None = None) -> dict:
    """The whole scenario; returns the figures and each session's result (nothing asserted here)."""
    if not 1 <= n <= MAX_SESSIONS:
        raise ValueError(f"1 to {MAX_SESSIONS} sessions")
    if not os.path.exists(CHROMIUM):
        raise FileNotFoundError(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    log_path = log_path or ROOT / "bench" / "out" / "load-server.log"
    specs = [(i, model_for(i, hash_every), *make_pair(i)) for i in range(n)]
    start_wall = time.time() - 1
    server = start_server(log_path)
    try:
        idle = server.status()
        # In a thread of its own: its event loop is independent of any loop (or sync Playwright) of the caller.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            results, total_s = pool.submit(asyncio.run, _drive(server.url, specs, artifacts)).result()
        status = server.status()
        loads = server.model_loads()
        listening = server.listening()
        alive = server.proc.poll() is None
    finally:
        server.stop()
    on_disk = uploads_on_disk(start_wall, [marker(i) for i in range(n)], [log_path])
    return {"sessions": n, "models": {m: sum(1 for s in specs if s[1] == m) for m in {s[1] for s in specs}},
            "total_s": total_s, "results": results, "specs": specs,
            "idle_rss_mb": idle.get("VmRSS", 0) / 1024, "peak_rss_mb": status.get("VmHWM", 0) / 1024,
            "end_rss_mb": status.get("VmRSS", 0) / 1024, "model_loads": loads, "listening": listening,
            "server_alive": alive, "uploads_on_disk": on_disk, "log_path": str(log_path)}


def check(fig: dict) -> list[str]:
    """Everything the load test requires, as a list of failures (empty when all is well)."""
    problems = []
    expected = expected_results(fig["specs"])
    n = fig["sessions"]
    for r in fig["results"]:
        tag = f"session {r.index} ({r.model})"
        if r.exception:
            problems.append(f"{tag}: {r.exception} (screenshot {r.screenshot or 'none'})")
            continue
        if r.errors:
            problems.append(f"{tag}: the page shows errors {r.errors}")
        if r.marker not in r.side_text:
            problems.append(f"{tag}: its marker {r.marker} is not in the side-by-side rows")
        others = [marker(j) for j in range(n) if j != r.index and marker(j) in r.page_text]
        if others:
            problems.append(f"{tag}: another session's markers on its page: {others}")
        if r.dialogs or r.live_markup:
            problems.append(f"{tag}: hostile markup came alive: dialogs {r.dialogs}, {r.live_markup} elements")
        if HOSTILE_B in make_pair(r.index)[1] and HOSTILE_B not in r.side_text:
            problems.append(f"{tag}: the hostile sentence is not shown as text")
        if "bundled sample" in r.page_text:
            problems.append(f"{tag}: still shows the bundled sample")
        exp = expected[r.index]
        for label in ("Corpus chrF", "Corpus BLEU", "Mean cosine", "Aligned pairs"):
            if r.metrics.get(label) != exp[label]:
                problems.append(f"{tag}: {label} shown {r.metrics.get(label)!r}, compare gives {exp[label]!r}")
        if r.rows != exp["pairs"]:
            problems.append(f"{tag}: {r.rows} side-by-side rows, compare gives {exp['pairs']} pairs")
        missing = [t for t in exp["b_texts"] if t not in r.side_text]
        if missing:
            problems.append(f"{tag}: sentences of its rendering missing from the rows: {missing[:2]}")
    for model, count in fig["model_loads"].items():
        if count != 1:
            problems.append(f"model {model} loaded {count} times (once per server expected)")
    for model in fig["models"]:
        if fig["model_loads"].get(model) != 1:
            problems.append(f"model {model}: {fig['model_loads'].get(model, 0)} 'loaded model' lines in the log")
    if fig["peak_rss_mb"] > RSS_BOUND_MB:
        problems.append(f"server peak RSS {fig['peak_rss_mb']:.0f} MB over the bound {RSS_BOUND_MB} MB")
    if not fig["listening"] or any(not a.startswith("127.0.0.1:") for a in fig["listening"]):
        problems.append(f"server listens on {fig['listening']}, not only 127.0.0.1")
    if not fig["server_alive"]:
        problems.append("the server died during the run")
    if fig["uploads_on_disk"]:
        problems.append(f"uploaded text found in files on disk: {fig['uploads_on_disk'][:5]}")
    if "Traceback" in Path(fig["log_path"]).read_text("utf-8", errors="replace"):
        problems.append(f"a traceback in the server log {fig['log_path']}")
    return problems


def _quantiles(xs: list[float]) -> str:
    xs = sorted(xs)
    if not xs:
        return "-"
    med = xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
    return f"min {xs[0]:.1f} s · median {med:.1f} s · max {xs[-1]:.1f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=8, help="concurrent browser sessions (default 8, at most 32)")
    ap.add_argument("--hash-every", type=int, default=4,
                    help="every K-th session uses the 'hash' model, the others the default (0: all default)")
    ap.add_argument("--log", type=Path, default=ROOT / "bench" / "out" / "load-server.log")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)
    fig = run(a.n, a.hash_every, a.log, ROOT / "bench" / "out")
    problems = check(fig)
    ok = [r for r in fig["results"] if not r.exception]
    summary = {
        "sessions": fig["sessions"], "models": fig["models"], "cpus": os.cpu_count(),
        "time_to_all_results_s": round(max((r.result_s for r in ok), default=0.0), 1),
        "scenario_s": round(fig["total_s"], 1),
        "page_open_s": [round(r.opened_s, 1) for r in fig["results"]],
        "result_latency_s": [round(r.latency_s, 1) for r in fig["results"]],
        "server_rss_mb": {"idle": round(fig["idle_rss_mb"]), "peak": round(fig["peak_rss_mb"]),
                          "end": round(fig["end_rss_mb"])},
        "model_loads": fig["model_loads"], "listening": fig["listening"],
        "uploads_on_disk": fig["uploads_on_disk"], "problems": problems,
    }
    if a.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{fig['sessions']} concurrent sessions on one server ({os.cpu_count()} CPUs); models {fig['models']}")
        print(f"time to all results: {summary['time_to_all_results_s']} s (scenario {summary['scenario_s']} s)")
        print(f"page open (sample shown): {_quantiles([r.opened_s for r in ok])}")
        print(f"result latency (upload of B to own result): {_quantiles([r.latency_s for r in ok])}")
        for r in fig["results"]:
            print(f"  session {r.index} {r.model:18} opened {r.opened_s:6.1f} s  result {r.result_s:6.1f} s  "
                  f"latency {r.latency_s:5.1f} s  chrF {r.metrics.get('Corpus chrF', '-'):>6}"
                  + (f"  FAILED {r.exception}" if r.exception else ""))
        print(f"server RSS: idle {fig['idle_rss_mb']:.0f} MB, peak (VmHWM) {fig['peak_rss_mb']:.0f} MB, "
              f"end {fig['end_rss_mb']:.0f} MB (bound {RSS_BOUND_MB} MB)")
        print(f"model loads: {fig['model_loads']}; listening on {fig['listening']}; "
              f"uploads on disk: {len(fig['uploads_on_disk'])}")
        print("checks: " + ("all passed" if not problems else "\n  " + "\n  ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
