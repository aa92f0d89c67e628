# Two commands do all set-up on a fresh machine with only Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HUB_DATA ?= hub_data
PORT ?= 8501

.PHONY: install browser demo demo-data serve test test-all bench lock clean
CHROMIUM := /usr/bin/chromium
NANUM := /usr/share/fonts/truetype/nanum

install: $(VENV)/.installed

# Installs the exact versions in requirements.lock (the ones the tests last passed with).
# uv only speeds up the install; it comes from PyPI like everything else. Bytecode is compiled at
# install: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set (as on CI machines)
# every process would otherwise compile scikit-learn, SciPy and pandas from source again
# (measured: `import sklearn` 6.9 s without, 2.0 s with).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q analytics app
	touch $@

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

demo-data: install
	FACTORYHUB_DATA_DIR=$(HUB_DATA) $(BIN)/factoryhub demo build

demo: demo-data serve

# The demo accounts get fresh passwords on every build; they are kept in an owner-only file and
# shown here, in the operator's own terminal (never in a log).
serve: install
	@if [ -f $(HUB_DATA)/demo-credentials.txt ]; then \
		echo "Dashboard: http://localhost:$(PORT)  — demo accounts ($(HUB_DATA)/demo-credentials.txt):"; \
		cat $(HUB_DATA)/demo-credentials.txt; fi
	FACTORYHUB_DATA_DIR=$(HUB_DATA) $(BIN)/streamlit run app/main.py \
		--server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# The browser tests drive Debian's Chromium; Nanum fonts give it Hangul glyphs. Installed from
# Debian when missing (as root, or through sudo).
browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -d $(NANUM) ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-nanum; \
	fi

test: install browser
	$(BIN)/python -m pytest

# Slow tests too (the crash-recovery trials and benchmarks).
test-all: install browser
	$(BIN)/python -m pytest -m ""

bench: install
	$(BIN)/factoryhub bench ingest --rows 5000000
	$(BIN)/factoryhub bench features --rows 20000000
	$(BIN)/factoryhub bench dashboard
	$(BIN)/factoryhub bench daily --factories 100
	$(BIN)/factoryhub bench scale --factories 40
	rm -rf $(HUB_DATA)/bench-simulate
	$(BIN)/factoryhub simulate --factories 10 --machines 20 --days 30 --seed 1 --out $(HUB_DATA)/bench-simulate
	rm -rf $(HUB_DATA)/bench-simulate

clean:
	rm -rf $(VENV) $(HUB_DATA) .pytest_cache .hypothesis
