# `make demo` sets up a virtualenv and curates the bundled examples; `make test` sets up and runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
BIN = $(VENV)/bin

$(BIN)/acecurate: pyproject.toml
	command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or run: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The tests also use torch and transformers (a tiny local model), `transformers serve` (a real OpenAI-compatible
# server) and Ray (a local cluster: the ray extra). torch goes first, pinned. On Linux the package index's torch is a CUDA build; on a CPU-only machine take
# PyTorch's CPU wheels: make test TORCH_INDEX=https://download.pytorch.org/whl/cpu (left empty, pip's own sources
# decide: a local wheel where there is one).
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
$(VENV)/.train: $(BIN)/acecurate
	$(BIN)/python -m pip install -q torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e '.[dev,train,test,ray]'
	touch $@

demo: $(BIN)/acecurate
	$(BIN)/acecurate filter examples/math_sample.jsonl examples/numina_sample.json \
		--pipeline pipelines/math.yaml --out runs/demo-math
	@if command -v bwrap >/dev/null 2>&1; then \
		$(BIN)/acecurate sandbox setup && \
		$(BIN)/acecurate filter examples/code_sample.jsonl --pipeline pipelines/code.yaml --out runs/demo-code; \
	else echo "code demo skipped: its validate-tests stage runs code in bubblewrap (apt-get install -y bubblewrap)"; fi

# verl's own reward managers, for the test that runs them on an export: verl without its dependencies (they pin an
# older transformers than train's) and the small libraries its reward code imports, in a directory of their own that
# only that test's process reads (ray and aiohttp come with the venv's ray extra).
VERL_LIBS = $(VENV)/verl-libs
$(VERL_LIBS): $(VENV)/.train
	$(BIN)/python -m pip install -q --target $@.tmp --no-deps verl==0.9.1 tensordict==0.15.3 pyvers cloudpickle omegaconf codetiming orjson
	rm -rf $@ && mv $@.tmp $@

# The sandbox's judge environment (pinned numpy and sortedcontainers from PyPI, once; a no-op when built): the tests
# download nothing themselves.
test: $(VENV)/.train $(VERL_LIBS)
	$(BIN)/acecurate sandbox setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: $(BIN)/acecurate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: demo test lint
