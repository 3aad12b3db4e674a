# The two commands a user needs: `make run` (the whole local pipeline) and `make test`.
# Both create the Python 3.10 virtual environment on first use.
PYTHON := .venv/bin/python
export TF_USE_LEGACY_KERAS := 1

# Options of `make run`, passed to local_runner.py; see `python local_runner.py --help`.
DATA_DIR ?= $(MOVIELENS_DIR)
OUTPUT_DIR ?= output
RUN_ARGS ?=

.PHONY: venv run test lock clean

venv:
	@scripts/ensure_venv.sh

run: venv
	$(PYTHON) local_runner.py $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --output-dir $(OUTPUT_DIR) $(RUN_ARGS)

test: venv
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# Re-resolves requirements.in into the exact pinned set; commit both files.
lock: venv
	$(PYTHON) -m uv pip compile requirements.in -o requirements.lock --python-version 3.10 \
		--python-platform x86_64-manylinux_2_28

clean:
	rm -rf $(OUTPUT_DIR)
