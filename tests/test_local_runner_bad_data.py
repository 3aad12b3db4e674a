"""Bad data never trains: local_runner.main on small generated data with one defect.

A failed run exits non-zero with the reason on stderr, without a traceback, with no
Trainer execution in MLMD and no serving_model dir. Three defects, one for each way the
runner learns of bad data: a component that fails while the pipeline runs (the ExampleGen
on a bad rating row), the pipeline that cannot be built (a truncated zip), and examples that
parse but drift from the schema (the AnomalyGate).

tests/components/test_movielens_bad_input.py checks the message of every kind of bad input
on the ExampleGen's executor (file, line, value and fix); this module proves that the runner
passes such a message on. tests/test_local_runner_history.py runs bad rows with
--skip-bad-rows. The runs here only ask for their report (tests/conftest.py's
reports_not_written): the report of a stopped run is tested in tests/reporting/.

A missing feature or a feature of the wrong type cannot be made from data: every source
(GroupLens files, TFDS, synthetic) becomes examples through
components/movielens/tf_examples.py, which writes each feature with a fixed type, so only a
change of that code or of the schema could produce one.
"""
import os

import pytest

import local_runner
from datasets import synthetic
from models import features
from runs import local
from runs import record as run_record
from runs.output_dir import OutputDir
from tests.components import movielens_data
from tests.components.movielens_data import read_lines, with_fields, write_lines
from tests.conftest import reports_not_written

pytestmark = pytest.mark.e2e

RATINGS = 600
BAD_LINE = 5  # 1-based line of u.data that a defect replaces
ANOMALOUS_AGE = '150'  # outside the schema's domain of raw_user_age (1..120)


@pytest.fixture
def data_dir(tmp_path) -> str:
    """Clean synthetic data, for one test to damage."""
    return synthetic.write_grouplens(str(tmp_path / 'ml'), RATINGS, seed=5)


def run_and_expect_failure(output_dir, data_path, capfd) -> str:
    """Runs local_runner.main, checks that nothing was trained or pushed and that a report
    of the failure was asked for; returns stderr."""
    with reports_not_written() as reports:
        code = local_runner.main(['--data-dir', data_path, '--output-dir', str(output_dir)])
    err = capfd.readouterr().err
    assert code == local.EXIT_FAILED, err
    [(reported_dir, report_args)] = reports
    assert reported_dir == str(output_dir)
    assert report_args['failure_message'] and report_args['failure_message'] in err
    assert 'Traceback' not in err
    metadata = OutputDir(str(output_dir)).metadata
    if os.path.exists(metadata):
        executions = run_record.RunRecord(run_record.connect(metadata)).executions()
        assert 'Trainer' not in executions and 'Transform' not in executions
    assert not os.path.exists(OutputDir(str(output_dir)).serving_model)
    assert 'No model was pushed; the served versions are unchanged.' in err
    return err


def test_a_bad_rating_row_stops_the_run_naming_file_line_and_value(data_dir, tmp_path, capfd):
    ratings_path = os.path.join(data_dir, 'u.data')
    lines = read_lines(ratings_path)
    lines[BAD_LINE - 1] = with_fields(lines[BAD_LINE - 1], rating='6')
    write_lines(ratings_path, lines)

    err = run_and_expect_failure(tmp_path / 'run', data_dir, capfd)

    assert 'The run failed in MovieLensExampleGen: ' in err
    assert f"{ratings_path} line {BAD_LINE}: rating '6' is outside 1..5" in err
    assert '--skip-bad-rows' in err  # the fix


def test_a_truncated_zip_stops_the_run_before_it_starts(data_dir, tmp_path, capfd):
    zip_path = movielens_data.zip_folder(data_dir, str(tmp_path / 'ml-100k.zip'))
    with open(zip_path, 'rb') as f:
        content = f.read()
    with open(zip_path, 'wb') as f:
        f.write(content[:len(content) // 2])

    with reports_not_written() as reports:
        code = local_runner.main(['--data-dir', zip_path, '--output-dir',
                                  str(tmp_path / 'run')])

    err = capfd.readouterr().err
    assert code == local.EXIT_FAILED, err
    # MovieLensExampleGen reads the zip's directory while the pipeline is built.
    assert f'The run did not start: {zip_path} is not a readable zip file: it is truncated ' \
           'or corrupt' in err
    assert 'Traceback' not in err
    assert os.listdir(tmp_path / 'run') == ['.lock']  # nothing else: no MLMD, no model
    assert reports == []  # nothing ran: nothing to report


def test_anomalous_data_stops_the_run_before_training(data_dir, tmp_path, capfd):
    users_path = os.path.join(data_dir, 'u.user')
    users = read_lines(users_path)
    # An age outside the schema's domain: valid GroupLens syntax, but drift.
    fields = users[0].split('|')  # u.user: id|age|gender|occupation|zip
    fields[1] = ANOMALOUS_AGE
    users[0] = '|'.join(fields)
    write_lines(users_path, users)

    output_dir = tmp_path / 'run'
    err = run_and_expect_failure(output_dir, data_dir, capfd)

    assert 'The run failed in AnomalyGate: The examples do not match the schema' in err
    lines = err.splitlines()
    for split in features.SPLITS:  # the anomaly in words, and the only one
        assert (f"  {split}: feature 'raw_user_age': Out-of-range values. Unexpectedly large "
                f'value: {ANOMALOUS_AGE}.') in lines
    assert err.count("feature '") == len(features.SPLITS)
    executions = run_record.RunRecord.latest(OutputDir(str(output_dir)).metadata).executions()
    assert executions['AnomalyGate'].last_known_state == run_record.Execution.FAILED
