import subprocess
import sys
import textwrap

from conftest import ROOT

SCRIPT = textwrap.dedent("""
    import socket, sys
    attempts = []
    def refuse(self, *args, **kwargs):
        attempts.append(args)
        raise OSError("network blocked by test")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = lambda *a, **k: refuse(None, *a)
    from comparator import compare
    r = compare("The cat sat on the mat. It was warm.", "The cat sat on a mat. It was hot.")
    assert r.settings["model"] == "all-MiniLM-L6-v2"
    assert r.pairs[0].cosine is not None and r.pairs[0].cosine > 0.8, r.pairs[0]
    print("connections attempted:", len(attempts))
    sys.exit(1 if attempts else 0)
""")


def test_default_model_loads_and_runs_with_network_blocked():
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "connections attempted: 0" in r.stdout
