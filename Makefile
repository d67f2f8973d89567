# Two commands: `make run` (set up, open the dashboard on the bundled sample) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: setup run score test load-test bench screenshot clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The pinned requirements, then the project itself (editable), so that .venv/bin/mt-comparator works.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# The dashboard, with the bundled sample already scored.
run: setup
	$(PY) -m comparator score examples/reference.txt examples/machine.txt --format tsv --no-progress | cut -f2,7-11 | head -12
	$(PY) -m streamlit run app.py --server.port $(PORT) --browser.gatherUsageStats false

# A scripted run on the bundled sample.
score: setup
	$(PY) -m comparator score examples/reference.txt examples/machine.txt --format json -o sample-result.json
	@echo "wrote sample-result.json"

test: setup
	$(PY) -m pytest -q tests

# 8 concurrent browser sessions on one dashboard server (about 1-2 minutes)
load-test: setup
	$(PY) -m pytest -q -m load tests/test_load.py

# Benchmarks read ../shared/eval (they say so when it is missing); each prints a markdown table.
bench: setup
	$(PY) bench/align_bible.py
	$(PY) bench/demetr.py
	$(PY) bench/speed.py

# The README's screenshot (docs/img/dashboard.png), taken from the real dashboard in Debian's Chromium
screenshot: setup
	$(PY) docs/screenshot.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
