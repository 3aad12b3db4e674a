"""End to end on the releases without user features: a CSV-family folder (split by time)
and an ML-10M folder (split by hash), each a few thousand synthetic ratings, through
local_runner.py and the whole pipeline.

Both train --architecture notebook, the tutorial's model, which reads only the user and
movie ids: the hybrid model's user side features exist only in 100K and 1M, and its
no-demographics variant is the model side's work. When it trains without them, drop
NOTEBOOK from these runs.
"""
import json
import os

import pytest
import tensorflow_transform as tft

import local_runner
from components import curated_schema
from models import features
from runs import record as run_record
from runs.output_dir import OutputDir

pytestmark = pytest.mark.e2e

RATINGS = 3000
NOTEBOOK = ('--architecture', 'notebook')
# 3,000 synthetic ratings make no good model; the runs must only get through the gate.
LENIENT_RMSE = '3'
RELEASES = {'csv': 'time', '10m': 'hash'}  # format: split


@pytest.fixture(scope='module', params=sorted(RELEASES))
def release_run(request, tmp_path_factory):
    """(format, split, exit code, run_summary.json, output dir) of one run."""
    data_format = request.param
    output_dir = str(tmp_path_factory.mktemp(f'{data_format}-run'))
    code = local_runner.main([
        '--output-dir', output_dir, '--source', 'synthetic', '--synthetic-format', data_format,
        '--synthetic-ratings', str(RATINGS), '--split', RELEASES[data_format],
        '--rmse-threshold', LENIENT_RMSE, *NOTEBOOK])
    summary = None
    if code == 0:
        with open(OutputDir(output_dir).summary) as f:
            summary = json.load(f)
    return data_format, RELEASES[data_format], code, summary, output_dir


def test_the_run_completes_and_the_summary_names_format_and_split(release_run):
    data_format, split, code, summary, _ = release_run
    assert code == 0
    assert summary['data']['format'] == data_format
    assert summary['data']['split'] == split
    counts = summary['data']['split_counts']
    assert sum(counts.values()) == RATINGS
    assert abs(counts['train'] / RATINGS - 0.72) < 0.02
    assert abs(counts['test'] / RATINGS - 0.20) < 0.02
    assert 0.3 < summary['test_rmse'] <= float(LENIENT_RMSE)
    assert summary['blessed'] and summary['pushed_model_dir']


def test_the_release_schema_was_validated_and_transform_saw_no_user_features(release_run):
    data_format, _, _, _, output_dir = release_run
    run = run_record.RunRecord(run_record.connect(OutputDir(output_dir).metadata))
    schema = run.output('CuratedSchemaGen', 'schema')
    with open(os.path.join(schema.uri, 'schema.pbtxt')) as copied, \
            open(curated_schema.schema_path(data_format)) as curated:
        assert copied.read() == curated.read()
    transform_graph = run.output('Transform', 'transform_graph')
    made = tft.TFTransformOutput(transform_graph.uri).transformed_feature_spec()
    assert features.USER_INDEX in made and features.MOVIE_GENRE_INDICES in made
    assert not set(made) & set(features.USER_SIDE_FEATURES)
