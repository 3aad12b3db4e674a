"""rank.py: ranking from the command line, its JSON, version dirs and its usage errors.

The model is trained briefly on twelve titles and saved in TF Serving's layout,
<tmp>/serving_model/1/, beside directories that are not versions; rank.py runs as a
subprocess, as a user runs it.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import rank
from models import features
from models.ranking import signatures
from tests.models import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# More titles than the --top-k 10 below, so that it has to choose.
CATALOG = [f'Movie {number} ({1950 + number})' for number in range(12)]
UNKNOWN_TITLE = 'No Such Movie (2031)'
EMPTY_USER = '--user-id is empty: give the id of the user to rank for, e.g. --user-id 42'
SCORE = re.compile(r'[1-5]\.[0-9]{3}')


def training_rows():
    """Users 0-3 each rate every title of CATALOG."""
    rng = np.random.default_rng(1)
    rows = []
    for user in range(4):
        for movie, title in enumerate(CATALOG):
            row = data.make_row(user, movie % len(data.TITLES), rng.integers(1, 6))
            row[features.MOVIE_TITLE] = [title.encode()]
            row[features.MOVIE_ID] = [str(movie).encode()]
            rows.append(row)
    return rows


@pytest.fixture(scope='module')
def serving_dir(tmp_path_factory):
    """<tmp>/serving_model with version 1, a newer copy in progress and a temporary dir."""
    workdir = tmp_path_factory.mktemp('rank_cli')
    rows = training_rows()
    transform_output = data.run_transform(str(workdir / 'transform'), rows)
    serving = workdir / 'serving_model'
    data.save_serving_model(transform_output, str(serving / '1'), raw_rows=rows)
    (serving / '7').mkdir()  # a push still being copied: no saved_model.pb yet
    (serving / '9.tmp').mkdir()
    (serving / '9.tmp' / 'saved_model.pb').write_bytes(b'not a model')
    return str(serving)


@pytest.fixture(scope='module')
def loaded(serving_dir):
    return tf.saved_model.load(os.path.join(serving_dir, '1'))


def run(*args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'rank.py'), *args],
                            capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
    assert 'Traceback' not in result.stderr, result.stderr
    return result


def table(stdout):
    """rank.py's `title<TAB>score` lines as (title, score) pairs."""
    rows = [line.split('\t') for line in stdout.splitlines()]
    assert all(len(row) == 2 and SCORE.fullmatch(row[1]) for row in rows), stdout
    return [(title, float(score)) for title, score in rows]


def test_titles_are_printed_best_first_with_the_models_scores(serving_dir, loaded):
    titles = [CATALOG[0], UNKNOWN_TITLE, CATALOG[5], CATALOG[9]]
    result = run('--model-dir', serving_dir, '--user-id', '0', *titles)
    assert result.returncode == 0, result.stderr
    ranked = table(result.stdout)
    assert sorted(title for title, _ in ranked) == sorted(titles)
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)
    ratings = loaded.signatures[signatures.PREDICT_RATING](
        user_id=tf.constant(['0'] * len(titles)), movie_title=tf.constant(titles))
    expected = dict(zip(titles, ratings[signatures.RATING].numpy()))
    for title, score in ranked:
        assert score == pytest.approx(expected[title], abs=5e-4)


def test_top_k_prints_the_k_best_of_the_catalog(serving_dir):
    result = run('--model-dir', serving_dir, '--user-id', '1', '--top-k', '10')
    assert result.returncode == 0, result.stderr
    ranked = table(result.stdout)
    titles = [title for title, _ in ranked]
    assert len(titles) == 10 and len(set(titles)) == 10 and set(titles) <= set(CATALOG)
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)


def test_a_k_beyond_the_catalog_prints_all_of_it(serving_dir):
    result = run('--model-dir', serving_dir, '--user-id', '2', '--top-k', str(10 ** 12))
    assert result.returncode == 0, result.stderr
    assert sorted(title for title, _ in table(result.stdout)) == sorted(CATALOG)


def test_json_marks_an_unknown_user_and_title(serving_dir):
    version_dir = os.path.join(serving_dir, '1')
    result = run('--model-dir', version_dir, '--user-id', 'nobody', '--json',
                 CATALOG[3], UNKNOWN_TITLE)
    assert result.returncode == 0, result.stderr
    ranking = json.loads(result.stdout)
    assert [set(row) for row in ranking] == [
        {'movie_title', 'movie_id', 'score', 'known_title', 'known_user'}] * 2
    assert {row['movie_title']: row['known_title'] for row in ranking} == {
        CATALOG[3]: True, UNKNOWN_TITLE: False}
    assert {row['movie_title']: row['movie_id'] for row in ranking} == {
        CATALOG[3]: '3', UNKNOWN_TITLE: ''}
    assert [row['known_user'] for row in ranking] == [False, False]
    assert all(1.0 <= row['score'] <= 5.0 for row in ranking)
    assert ranking[0]['score'] >= ranking[1]['score']


@pytest.mark.parametrize('args, message', [
    ([], 'the following arguments are required: --user-id'),
    (['--user-id', '', CATALOG[0]], EMPTY_USER),
    (['--user-id', ' ', '--top-k', '3'], EMPTY_USER),
    (['--user-id', '0'], 'nothing to rank: give movie titles after --user-id, or --top-k K'),
    (['--user-id', '0', '--top-k', '0'], '--top-k must be at least 1, got 0'),
    (['--user-id', '0', '--top-k', '-2'], '--top-k must be at least 1, got -2'),
    (['--user-id', '0', '--top-k', 'ten'], "argument --top-k: invalid int value: 'ten'"),
    (['--user-id', '0', '--top-k', '3', CATALOG[0]],
     'give either movie titles or --top-k K, not both'),
])
def test_usage_errors_exit_2_with_one_line(serving_dir, args, message):
    result = run('--model-dir', serving_dir, *args)
    assert result.returncode == rank.EXIT_USAGE
    assert result.stdout == ''
    assert result.stderr.strip().splitlines() == [f'rank.py: error: {message}']


@pytest.mark.parametrize('layout, message', [
    ('missing', 'does not exist'),
    ('empty', 'no model version in'),
    ('unversioned', 'no model version in'),
])
def test_a_model_dir_without_a_version_exits_2(tmp_path, layout, message):
    model_dir = tmp_path / 'serving_model'
    if layout != 'missing':
        model_dir.mkdir()
    if layout == 'unversioned':
        (model_dir / 'latest').mkdir()
        (model_dir / 'latest' / 'saved_model.pb').write_bytes(b'')
        (model_dir / '3').mkdir()
    result = run('--model-dir', str(model_dir), '--user-id', '0', '--top-k', '3')
    assert result.returncode == rank.EXIT_USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('rank.py: error: ') and message in lines[0]


def test_the_newest_numbered_version_is_chosen(tmp_path):
    for name in ('1', '2', '10', '11', '12.tmp', 'tmp-13', '١٤'):
        (tmp_path / name).mkdir()
        if name != '11':  # 11 is still being copied
            (tmp_path / name / 'saved_model.pb').write_bytes(b'')
    assert rank.resolve_version_dir(str(tmp_path)) == str(tmp_path / '10')
    assert rank.resolve_version_dir(str(tmp_path / '2')) == str(tmp_path / '2')


def save_module(path, **functions):
    module = tf.Module()
    model_dir = os.path.join(path, '1')
    tf.saved_model.save(module, model_dir, signatures=functions)
    return str(path)


def test_a_model_without_the_signature_is_a_usage_error(tmp_path, capsys):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def predict_rating(user_id):
        return {signatures.RATING: tf.zeros(tf.shape(user_id))}

    model_dir = save_module(tmp_path, predict_rating=predict_rating)
    assert rank.main(['--model-dir', model_dir, '--user-id', '0', '--top-k', '3']) == 2
    error = capsys.readouterr().err
    assert "has no 'top_k' signature" in error and len(error.strip().splitlines()) == 1


def test_an_input_the_signature_refuses_is_a_usage_error(tmp_path, capsys):
    # A model whose rank signature wants a number for the user: rank.py sends a string.
    @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name=features.USER_ID),
                                  tf.TensorSpec([None], tf.string, name='movie_titles')])
    def rank_by_number(user_id, movie_titles):
        return {signatures.MOVIE_TITLES: movie_titles}

    model_dir = save_module(tmp_path, rank=rank_by_number)
    assert rank.main(['--model-dir', model_dir, '--user-id', '0', CATALOG[0]]) == 2
    error = capsys.readouterr().err
    assert error.startswith('rank.py: error: the model refused the request: ')
    assert 'string' in error and len(error.strip().splitlines()) == 1
