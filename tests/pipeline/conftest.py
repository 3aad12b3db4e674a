"""Fixtures of the pipeline tests: one small pipeline run, shared by the report tests."""
import pytest

import local_runner

SYNTHETIC_RATINGS = 3000
# 3000 synthetic ratings cannot make a good model; this bound lets the run be blessed and
# pushed, so that the report has every section to show.
LENIENT_RMSE = 1.5
SYNTHETIC_RUN_FLAGS = ('--source', 'synthetic', '--synthetic-ratings', str(SYNTHETIC_RATINGS),
                       '--rmse-threshold', str(LENIENT_RMSE))


@pytest.fixture(scope='session')
def synthetic_run(tmp_path_factory) -> str:
    """The output dir of one complete local run on synthetic data (about a minute)."""
    output_dir = str(tmp_path_factory.mktemp('synthetic-run'))
    code = local_runner.main(['--output-dir', output_dir, *SYNTHETIC_RUN_FLAGS])
    assert code == 0, f'the pipeline run into {output_dir} failed; see its output above'
    return output_dir
