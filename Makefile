# The two commands a user needs: `make run` (the whole local pipeline) and `make test`.
# `make test-fast` is the edit loop: the unit tests only, in about a minute.
# Both create the Python 3.10 virtual environment on first use.
PYTHON := .venv/bin/python
export TF_USE_LEGACY_KERAS := 1

# Options of `make run`, passed to local_runner.py; see `python local_runner.py --help`.
DATA_DIR ?= $(MOVIELENS_DIR)
OUTPUT_DIR ?= output
RUN_ARGS ?=

.PHONY: venv run test test-fast lock clean

venv:
	@scripts/ensure_venv.sh

run: venv
	$(PYTHON) local_runner.py $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --output-dir $(OUTPUT_DIR) $(RUN_ARGS)

# The full suite, in a random order (pytest-randomly; it prints the seed to repeat one).
test: venv
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# Leaves out what runs a pipeline, trains a model or starts a TensorFlow process: the
# markers in pytest.ini.
test-fast: venv
	$(PYTHON) -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

# Re-resolves requirements.in into the exact pinned set; commit both files.
lock: venv
	$(PYTHON) -m uv pip compile requirements.in -o requirements.lock --python-version 3.10 \
		--python-platform x86_64-manylinux_2_28

clean:
	rm -rf $(OUTPUT_DIR)
