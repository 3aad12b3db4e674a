"""rank.py: ranking from the command line, its JSON, version dirs and its usage errors.

The model is the one tests/conftest.py's completed_run pushed, copied into a serving dir of
TF Serving's layout, <tmp>/serving_model/1/, beside directories that are not versions.

rank.py runs as its command line runs it, `__main__` in a process of its own, with that
process's stdout and stderr (file descriptors, so TensorFlow's C++ output too). One process
answers several command lines, one after the other: each starts in TensorFlow's import
otherwise, which costs more than the ranking.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import rank
from models import features
from models.ranking import signatures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNKNOWN_TITLE = 'No Such Movie (2031)'
EMPTY_USER = '--user-id is empty: give the id of the user to rank for, e.g. --user-id 42'
SCORE = re.compile(r'[1-5]\.[0-9]{3}')
A_TITLE = 'Toy Story (1995)'  # for the usage errors, which never reach a model

# Runs rank.py as __main__ once for each command line of a request, capturing each one's
# exit code, stdout and stderr at the file descriptors.
CHILD = textwrap.dedent('''
    import json, os, runpy, sys, tempfile, traceback

    with open(sys.argv[1]) as f:
        request = json.load(f)


    def run(argv):
        sys.argv = [request['script'], *argv]
        try:
            runpy.run_path(request['script'], run_name='__main__')
            return 0
        except SystemExit as exit:
            return exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        except BaseException:
            traceback.print_exc()
            return 'exception'


    results = {}
    for name, argv in request['cases'].items():
        saved = os.dup(1), os.dup(2)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(out.fileno(), 1), os.dup2(err.fileno(), 2)
            try:
                code = run(argv)
            finally:
                sys.stdout.flush(), sys.stderr.flush()
                os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            out.seek(0), err.seek(0)
            results[name] = {'returncode': code, 'stdout': out.read().decode(),
                             'stderr': err.read().decode()}
    with open(request['report'], 'w') as f:
        json.dump(results, f)
''')


def run_command_lines(work, cases: dict) -> dict:
    """{case: {'returncode', 'stdout', 'stderr'}} of `rank.py *argv` for each case."""
    os.makedirs(work, exist_ok=True)
    request, report = os.path.join(work, 'request.json'), os.path.join(work, 'report.json')
    with open(request, 'w') as f:
        json.dump({'script': os.path.join(ROOT, 'rank.py'), 'cases': cases,
                   'report': report}, f)
    result = subprocess.run([sys.executable, '-c', CHILD, request], capture_output=True,
                            text=True, cwd=ROOT, timeout=600,
                            env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    with open(report) as f:
        results = json.load(f)
    for name, outcome in results.items():
        assert 'Traceback' not in outcome['stderr'], (name, outcome['stderr'])
    return results


def table(stdout):
    """rank.py's `title<TAB>score` lines as (title, score) pairs."""
    rows = [line.split('\t') for line in stdout.splitlines()]
    assert all(len(row) == 2 and SCORE.fullmatch(row[1]) for row in rows), stdout
    return [(title, float(score)) for title, score in rows]


# Ranking with the model of a complete run.

@pytest.fixture(scope='module')
def movie_ids(loaded) -> dict:
    """{title: movie id} of every movie the served model knows, read from its catalog (the
    last entry is the out-of-vocabulary movie)."""
    catalog = loaded.movie_catalog
    titles, ids = catalog.titles.numpy()[:-1], catalog.movie_ids.numpy()[:-1]
    return {title.decode(): movie_id.decode() for title, movie_id in zip(titles, ids)}


@pytest.fixture(scope='module')
def catalog(movie_ids) -> list:
    """The titles the model knows."""
    return sorted(movie_ids)


@pytest.fixture(scope='module')
def serving_dir(completed_run_summary, tmp_path_factory):
    """<tmp>/serving_model with the run's model as version 1, a newer version still being
    copied and a temporary dir."""
    serving = tmp_path_factory.mktemp('rank_cli') / 'serving_model'
    shutil.copytree(completed_run_summary['pushed_model_dir'], serving / '1')
    (serving / '7').mkdir()  # a push still being copied: no saved_model.pb yet
    (serving / '9.tmp').mkdir()
    (serving / '9.tmp' / 'saved_model.pb').write_bytes(b'not a model')
    return str(serving)


@pytest.fixture(scope='module')
def loaded(serving_dir):
    return tf.saved_model.load(os.path.join(serving_dir, '1'))


@pytest.fixture(scope='module')
def ranked(serving_dir, catalog, tmp_path_factory):
    """The ranking command lines, answered by one process."""
    return run_command_lines(str(tmp_path_factory.mktemp('ranked')), {
        'titles': ['--model-dir', serving_dir, '--user-id', '1', catalog[0], UNKNOWN_TITLE,
                   catalog[5], catalog[9]],
        'top_k': ['--model-dir', serving_dir, '--user-id', '1', '--top-k', '10'],
        'beyond': ['--model-dir', serving_dir, '--user-id', '2', '--top-k', str(10 ** 12)],
        'json': ['--model-dir', os.path.join(serving_dir, '1'), '--user-id', 'nobody',
                 '--json', catalog[3], UNKNOWN_TITLE],
    })


@pytest.mark.e2e
def test_titles_are_printed_best_first_with_the_models_scores(ranked, catalog, loaded):
    titles = [catalog[0], UNKNOWN_TITLE, catalog[5], catalog[9]]
    result = ranked['titles']
    assert result['returncode'] == 0, result['stderr']
    ranking = table(result['stdout'])
    assert sorted(title for title, _ in ranking) == sorted(titles)
    scores = [score for _, score in ranking]
    assert scores == sorted(scores, reverse=True)
    ratings = loaded.signatures[signatures.PREDICT_RATING](
        user_id=tf.constant(['1'] * len(titles)), movie_title=tf.constant(titles))
    expected = dict(zip(titles, ratings[signatures.RATING].numpy()))
    for title, score in ranking:
        assert score == pytest.approx(expected[title], abs=5e-4)


@pytest.mark.e2e
def test_top_k_prints_the_k_best_of_the_catalog(ranked, catalog):
    result = ranked['top_k']
    assert result['returncode'] == 0, result['stderr']
    ranking = table(result['stdout'])
    titles = [title for title, _ in ranking]
    assert len(catalog) > 10
    assert len(titles) == 10 and len(set(titles)) == 10 and set(titles) <= set(catalog)
    scores = [score for _, score in ranking]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.e2e
def test_a_k_beyond_the_catalog_prints_all_of_it(ranked, catalog):
    result = ranked['beyond']
    assert result['returncode'] == 0, result['stderr']
    assert sorted(title for title, _ in table(result['stdout'])) == sorted(catalog)


@pytest.mark.e2e
def test_json_marks_an_unknown_user_and_title(ranked, catalog, movie_ids):
    result = ranked['json']
    assert result['returncode'] == 0, result['stderr']
    ranking = json.loads(result['stdout'])
    assert [set(row) for row in ranking] == [
        {'movie_title', 'movie_id', 'score', 'known_title', 'known_user'}] * 2
    assert {row['movie_title']: row['known_title'] for row in ranking} == {
        catalog[3]: True, UNKNOWN_TITLE: False}
    assert {row['movie_title']: row['movie_id'] for row in ranking} == {
        catalog[3]: movie_ids[catalog[3]], UNKNOWN_TITLE: ''}
    assert [row['known_user'] for row in ranking] == [False, False]
    assert all(1.0 <= row['score'] <= 5.0 for row in ranking)
    assert ranking[0]['score'] >= ranking[1]['score']


# Usage errors: none of them needs a model.

USAGE_ERRORS = {
    'no user': ([], 'the following arguments are required: --user-id'),
    'empty user': (['--user-id', '', A_TITLE], EMPTY_USER),
    'blank user': (['--user-id', ' ', '--top-k', '3'], EMPTY_USER),
    'nothing to rank': (['--user-id', '0'],
                        'nothing to rank: give movie titles after --user-id, or --top-k K'),
    'k 0': (['--user-id', '0', '--top-k', '0'], '--top-k must be at least 1, got 0'),
    'k -2': (['--user-id', '0', '--top-k', '-2'], '--top-k must be at least 1, got -2'),
    'k ten': (['--user-id', '0', '--top-k', 'ten'],
              "argument --top-k: invalid int value: 'ten'"),
    'titles and k': (['--user-id', '0', '--top-k', '3', A_TITLE],
                     'give either movie titles or --top-k K, not both'),
}
MODEL_DIR_ERRORS = {
    'missing': 'does not exist',
    'empty': 'no model version in',
    'unversioned': 'no model version in',
}


@pytest.fixture(scope='module')
def refused(tmp_path_factory):
    """The command lines with usage errors, answered by one process."""
    work = tmp_path_factory.mktemp('refused')
    model_dirs = {}
    for layout in MODEL_DIR_ERRORS:
        model_dir = work / layout / 'serving_model'
        if layout != 'missing':
            model_dir.mkdir(parents=True)
        if layout == 'unversioned':
            (model_dir / 'latest').mkdir()
            (model_dir / 'latest' / 'saved_model.pb').write_bytes(b'')
            (model_dir / '3').mkdir()
        model_dirs[layout] = str(model_dir)
    cases = {case: ['--model-dir', model_dirs['missing'], *args]
             for case, (args, _) in USAGE_ERRORS.items()}
    cases.update({layout: ['--model-dir', model_dir, '--user-id', '0', '--top-k', '3']
                  for layout, model_dir in model_dirs.items()})
    return run_command_lines(str(work / 'run'), cases)


@pytest.mark.parametrize('case', USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_line(refused, case):
    result = refused[case]
    assert result['returncode'] == rank.EXIT_USAGE
    assert result['stdout'] == ''
    assert result['stderr'].strip().splitlines() == [f'rank.py: error: {USAGE_ERRORS[case][1]}']


@pytest.mark.parametrize('layout', MODEL_DIR_ERRORS)
def test_a_model_dir_without_a_version_exits_2(refused, layout):
    result = refused[layout]
    assert result['returncode'] == rank.EXIT_USAGE
    lines = result['stderr'].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('rank.py: error: ')
    assert MODEL_DIR_ERRORS[layout] in lines[0]


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
    assert rank.main(['--model-dir', model_dir, '--user-id', '0', A_TITLE]) == 2
    error = capsys.readouterr().err
    assert error.startswith('rank.py: error: the model refused the request: ')
    assert 'string' in error and len(error.strip().splitlines()) == 1
