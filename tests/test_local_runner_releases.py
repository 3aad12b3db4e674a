"""End to end on the releases without user features: a CSV-family folder (split by time)
and an ML-10M folder (split by hash), each a few thousand synthetic half-star ratings,
through local_runner.py and the whole pipeline, with the default model and the default
gate (beat the user + item bias baseline of the same train split).
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
RELEASES = {'csv': 'time', '10m': 'hash'}  # format: split


@pytest.fixture(scope='module', params=sorted(RELEASES))
def release_run(request, tmp_path_factory):
    """(format, split, exit code, run_summary.json, output dir) of one run."""
    data_format = request.param
    output_dir = str(tmp_path_factory.mktemp(f'{data_format}-run'))
    code = local_runner.main([
        '--output-dir', output_dir, '--source', 'synthetic', '--synthetic-format', data_format,
        '--synthetic-ratings', str(RATINGS), '--split', RELEASES[data_format]])
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
    # The gate of every release: the bias baseline, named with its RMSE, and the verdict
    # follows the comparison.
    gate = summary['gate']
    assert gate['threshold'] is None and gate['bias_baseline_rmse'] > 0.3
    assert 'user + item bias baseline' in gate['reason']
    assert f"{gate['bias_baseline_rmse']:.4f}" in gate['reason']
    beats = gate['rmse'] <= gate['bias_baseline_rmse'] - gate['bias_baseline_min_improvement']
    assert summary['blessed'] == beats == bool(summary['pushed_model_dir'])


def test_the_release_schema_was_validated_and_transform_saw_no_user_features(release_run):
    data_format, _, _, _, output_dir = release_run
    run = run_record.RunRecord.latest(OutputDir(output_dir).metadata)
    schema = run.output('CuratedSchemaGen', 'schema')
    with open(os.path.join(schema.uri, 'schema.pbtxt')) as copied, \
            open(curated_schema.schema_path(data_format)) as curated:
        assert copied.read() == curated.read()
    transform_graph = run.output('Transform', 'transform_graph')
    made = tft.TFTransformOutput(transform_graph.uri).transformed_feature_spec()
    assert features.USER_INDEX in made and features.MOVIE_GENRE_INDICES in made
    assert not set(made) & set(features.USER_SIDE_FEATURES)
