# The two commands a user needs: `make run` (the whole local pipeline) and `make test`.
# `make test-fast` is the edit loop: the unit tests only, in under two minutes.
# Both create the Python 3.10 virtual environment on first use.
PYTHON := .venv/bin/python
export TF_USE_LEGACY_KERAS := 1

# Options of `make run`, passed to local_runner.py; see `python local_runner.py --help`.
DATA_DIR ?= $(MOVIELENS_DIR)
OUTPUT_DIR ?= output
RUN_ARGS ?=

.PHONY: venv peers-venv run test test-fast lock peers-lock clean

venv:
	@scripts/ensure_venv.sh

# The classical peers benchmarks/rmse.py compares ours with (cornac, surprise) need numpy 2,
# which TFX 1.16 cannot have: they get a venv of their own, used only by that benchmark.
peers-venv: venv
	@[ -x .venv-peers/bin/python ] || "$$(.venv/bin/python -c 'import sys; print(sys._base_executable)')" -m venv .venv-peers
	$(PYTHON) -m uv pip sync --quiet --python .venv-peers/bin/python benchmarks/requirements.txt

run: venv
	$(PYTHON) local_runner.py $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --output-dir $(OUTPUT_DIR) $(RUN_ARGS)

# Both tiers run on every core (pytest-xdist), one folder of tests/ per worker at a time,
# the folders that run pipelines first (tests/parallel.py); PYTEST_ARGS=-n0 runs in one.
PARALLEL := -n auto --dist loadscope

# The full suite, in a random order (pytest-randomly; it prints the seed to repeat one).
test: venv
	$(PYTHON) -m pytest $(PARALLEL) $(PYTEST_ARGS)

# Leaves out what runs a pipeline, trains a model or starts a TensorFlow process: the
# markers in pytest.ini.
test-fast: venv
	$(PYTHON) -m pytest $(PARALLEL) -m "not e2e and not slow" $(PYTEST_ARGS)

# Re-resolves requirements.in into the exact pinned set; commit both files.
lock: venv
	$(PYTHON) -m uv pip compile requirements.in -o requirements.lock --python-version 3.10 \
		--python-platform x86_64-manylinux_2_28

peers-lock: venv
	$(PYTHON) -m uv pip compile benchmarks/requirements.in -o benchmarks/requirements.txt \
		--python-version 3.10 --python-platform x86_64-manylinux_2_28

clean:
	rm -rf $(OUTPUT_DIR)
