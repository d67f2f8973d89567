"""Offline: a full comparison with the default packaged model while every network socket is blocked.

The run happens in a fresh subprocess, so that the model is loaded (and, with an empty cache, exported to
ONNX) with the block already in place. Caches and the Hugging Face home point at empty folders, so nothing
can come from an earlier download either. The block is at the Python level (socket.socket.connect,
connect_ex, create_connection, getaddrinfo patched to refuse; an audit hook refusing socket.connect,
socket.getaddrinfo and socket.sendto events from any code that bypasses the patches), and where the
machine allows it the subprocess also runs in an empty network namespace (`unshare -rn`: no interfaces
at all, which covers native code too). Connections of every family are refused and counted: the test
needs zero attempts, not merely zero successes.

The full comparison: the CLI on the bundled sample to JSON, CSV and HTML with TER, the Python API, and
the dashboard's first screen (AppTest: the sample scored with the default model).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

from conftest import EXAMPLES, ROOT

SCRIPT = textwrap.dedent(r"""
    import json, os, socket, sys

    attempts = []

    def refuse(what):
        def blocked(*args, **kwargs):
            attempts.append((what, repr(args)[:200]))
            raise OSError(101, f"network blocked by test ({what})")
        return blocked

    socket.socket.connect = refuse("connect")
    socket.socket.connect_ex = refuse("connect_ex")
    socket.create_connection = refuse("create_connection")
    socket.getaddrinfo = refuse("getaddrinfo")

    def audit(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.gethostbyname"):
            attempts.append((event, repr(args)[:200]))
            raise OSError(101, f"network blocked by test ({event})")

    sys.addaudithook(audit)

    root, examples, out = sys.argv[1:4]
    from comparator import compare_files
    from comparator.cli import main as cli
    from comparator.core.embed.encoder import DEFAULT_MODEL

    ref, mt = os.path.join(examples, "reference.txt"), os.path.join(examples, "machine.txt")
    for fmt in ("json", "csv", "html"):
        code = cli.main(["score", ref, mt, "--format", fmt, "--ter", "--no-progress",
                         "-o", os.path.join(out, "result." + fmt)])
        assert code == 0, (fmt, code)
    r = compare_files(ref, mt)
    assert r.settings["model"] == DEFAULT_MODEL, r.settings
    assert r.settings["backend"] in ("onnx", "torch"), r.settings

    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(os.path.join(root, "app.py"), default_timeout=600).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    print(json.dumps({"attempts": attempts, "api_chrf": r.corpus["chrf"], "app_metrics": metrics,
                      "app_model": at.session_state["model"], "backend": r.settings["backend"]}))
    sys.exit(1 if attempts else 0)
""")


def _netns_prefix() -> list[str]:
    """`unshare -rn` (a network namespace with no interfaces) where this machine allows it."""
    unshare = shutil.which("unshare")
    if not unshare:
        return []
    try:
        ok = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return [unshare, "-rn"] if ok else []


def test_full_comparison_with_the_default_model_and_no_network(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_", "HUGGINGFACE_"))}
    env.update(HF_HOME=str(tmp_path / "hf-home"), XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
               MT_COMPARATOR_CACHE=str(tmp_path / "comparator-cache"), HOME=str(tmp_path / "home"),
               TORCH_HOME=str(tmp_path / "torch-home"), NO_PROXY="*", no_proxy="*")
    (tmp_path / "home").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    r = subprocess.run([*_netns_prefix(), sys.executable, "-c", SCRIPT, str(ROOT), str(EXAMPLES), str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []

    # the outputs are whole: every sentence of both sides in exactly one pair, scores everywhere
    data = json.loads((out / "result.json").read_text("utf-8"))
    assert data["settings"]["model"] == "all-MiniLM-L6-v2"
    a = [i for p in data["pairs"] for i in p["a"]]
    b = [j for p in data["pairs"] for j in p["b"]]
    assert a == list(range(len(data["a_sentences"]))) and b == list(range(len(data["b_sentences"])))
    scored = [p for p in data["pairs"] if p["a"] and p["b"] and not p["furniture"]]
    assert len(scored) > 10 and all(p["cosine"] is not None and p["ter"] is not None for p in scored)
    assert data["corpus"]["chrf"] == report["api_chrf"] and data["corpus"]["ter"] is not None
    assert (out / "result.csv").read_text("utf-8").count("\n") == len(data["pairs"]) + 1
    assert "<table" in (out / "result.html").read_text("utf-8")

    # the dashboard showed the same sample result with the same model
    from comparator.dashboard import views

    assert report["app_model"] == "all-MiniLM-L6-v2"
    assert report["app_metrics"]["Corpus chrF"] == views.fmt(data["corpus"]["chrf"], digits=2)
    assert report["app_metrics"]["Aligned pairs"] == str(data["corpus"]["pairs_scored"])
