"""Shared test set-up: Keras 2 for TFX, the optional real MovieLens data, one complete
pipeline run that every test reading a finished run shares, and the hooks that spread the
tests over the machine's cores (tests/parallel.py)."""
import contextlib
import json
import os
import shutil

import pytest

import models  # noqa: F401 -- Keras 2 before any TensorFlow import (models/__init__.py)
from tests import parallel

SYNTHETIC_RATINGS = 3000
# 3000 synthetic ratings cannot make a good model; this bound lets the run be blessed and
# pushed, so that the run has every output to show.
LENIENT_RMSE = 1.5
SYNTHETIC_RUN_FLAGS = ('--source', 'synthetic', '--synthetic-ratings', str(SYNTHETIC_RATINGS),
                       '--rmse-threshold', str(LENIENT_RMSE))

# Fixtures that take long to build: a test that uses one, directly or through another
# fixture, gets the marker and is left out of `make test-fast` (see pytest.ini).
E2E_FIXTURES = {'completed_run'}
SLOW_FIXTURES = {'transform_output', 'saved_model', 'wheel', 'half_stars'}


def pytest_itemcollected(item):
    if E2E_FIXTURES.intersection(item.fixturenames):
        item.add_marker(pytest.mark.e2e)
    if SLOW_FIXTURES.intersection(item.fixturenames):
        item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle
def pytest_collection_modifyitems(items):
    if parallel.in_worker():
        parallel.pipelines_first(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue('dist') == 'loadscope':
        return parallel.make_scheduler(config, log)
    return None


@pytest.fixture(scope='session')
def movielens_dir():
    """The real ml-100k folder named by MOVIELENS_DIR; tests that need it skip without it."""
    path = os.environ.get('MOVIELENS_DIR')
    if not path:
        pytest.skip('MOVIELENS_DIR is not set: the real MovieLens 100K tests are skipped')
    if not os.path.exists(os.path.join(path, 'u.data')):
        pytest.fail(f'MOVIELENS_DIR={path} holds no u.data; point it at the ml-100k folder')
    return path


@pytest.fixture(scope='session')
def completed_run(tmp_path_factory) -> str:
    """The output dir of one complete local run on synthetic data, blessed and pushed.

    Shared by every test that reads a finished run: read it, never write to it. A test
    that runs again or changes files works on copy_run(completed_run, ...).
    """
    import local_runner
    from runs.output_dir import OutputDir

    def run(output_dir: str) -> None:
        code = local_runner.main(['--output-dir', output_dir, *SYNTHETIC_RUN_FLAGS])
        assert code == 0, f'the pipeline run into {output_dir} failed; see its output above'
        shutil.copy(OutputDir(output_dir).summary, _summary_as_written(output_dir))

    return parallel.built_once(tmp_path_factory, 'completed-run', run)


def _summary_as_written(output_dir: str) -> str:
    return output_dir + '.summary.json'


@pytest.fixture(scope='session')
def completed_run_summary(completed_run) -> dict:
    """completed_run's run_summary.json as its run wrote it (the file itself would show a
    later run's, should a test break the read-only rule). Read-only, as the run is."""
    with open(_summary_as_written(completed_run)) as f:
        return json.load(f)


def copy_run(output_dir: str, destination: str) -> str:
    """A copy of a run's output dir that a test may change and run again.

    The copy's metadata.sqlite still names the original's artifacts, which stay read-only:
    a rerun in the copy writes its new artifacts under the copy. The copy is not the same
    run for TFX's cache: the synthetic data and the serving dir have other paths in it.
    """
    shutil.copytree(output_dir, destination)
    return destination


@contextlib.contextmanager
def reports_not_written():
    """local_runner's runs in this block write no run report; yields the list of reports
    they asked for, as (output dir, write_report's keyword arguments).

    For runs whose report no test reads: a report costs seconds for each run, on ml-100k
    more. The report itself is tested on completed_run, whose report its run wrote.
    """
    from runs import local

    asked = []
    with pytest.MonkeyPatch.context() as patch:
        def write_report(output_dir, **kwargs):
            asked.append((output_dir.path, kwargs))
            return local.ReportOutcome(complete=True)  # as a report written whole

        patch.setattr(local, 'write_report', write_report)
        yield asked
