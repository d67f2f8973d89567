"""The README's screenshot, made from the real dashboard: `make screenshot` (or `.venv/bin/python docs/screenshot.py`).

Starts `streamlit run app.py` on 127.0.0.1 (a free port), waits for its health check, opens the page in
Debian's Chromium (/usr/bin/chromium, driven by Playwright; never `playwright install`), waits until the
bundled sample is scored and the rerun has finished, saves the first screen to docs/img/dashboard.png and
terminates the server by its pid. Exit 2 with one line when Chromium or Playwright is missing.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "dashboard.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# the first load scores the sample with the sentence model: slow on a busy machine
FIRST_LOAD_MS = 240_000


def _server_tools():
    """bench/load_dashboard.py: it starts the dashboard on 127.0.0.1 and waits for its health check."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("load_dashboard", ROOT / "bench" / "load_dashboard.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _shoot(url: str, out: Path, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.get_by_test_id("stMetric").first.wait_for(state="visible", timeout=FIRST_LOAD_MS)
            # the rerun is over when neither the running indicator nor a placeholder is left
            page.wait_for_timeout(400)
            for selector in ("[data-testid=stStatusWidget]", "[data-testid=stSkeleton]"):
                page.wait_for_selector(selector, state="detached", timeout=FIRST_LOAD_MS)
            page.wait_for_timeout(1000)  # charts and fonts finish drawing after the last message
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=OUT, help=f"PNG to write (default: {OUT.relative_to(ROOT)})")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1000)
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("error: playwright is not installed (pip install -r requirements-dev.txt)", file=sys.stderr)
        return 2

    from comparator.core.errors import first_line

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "streamlit.log"
        server = None
        try:
            server = _server_tools().start_server(log)
            _shoot(server.url, args.output, args.width, args.height)
        except Exception as exc:  # one line, then the server's last words, which usually say why
            if log.exists():
                tail = log.read_text("utf-8", errors="replace").splitlines()[-15:]
                print("\n".join(tail), file=sys.stderr)
            print(f"error: {first_line(exc, type(exc).__name__)}", file=sys.stderr)
            return 1
        finally:
            if server is not None:
                server.stop()
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
