"""Bad MovieLens input: each case fails with a message that names the file, the line, the
value and the fix, and --skip-bad-rows drops and counts exactly the bad rating rows."""
import logging
import os
import zipfile

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.runner import PipelineResult, PipelineRunner

from components.movielens.errors import BadInputError
from tests.components import movielens_data as data

# Most cases run the executor through Beam, a second or more each.
pytestmark = pytest.mark.slow

SKIP_FIX = 'pass --skip-bad-rows to drop such rows'

# (1-based line of u.data, bad line, what the message must quote)
BAD_ROWS = {
    'too few fields': (2, '1\t2\t3', ["'1\\t2\\t3' has 3 fields", 'expected 4']),
    'too many fields': (3, '2\t543\t4\t878542960\t9', ['has 5 fields']),
    'user id not an integer': (4, 'x3\t1\t1\t876892818', ["user id 'x3' is not a whole number"]),
    'movie id not an integer': (5, '3\t5.5\t2\t889751712', ["movie id '5.5' is not a whole"]),
    'rating not a number': (6, '2\t2\tgood\t875071561', ["rating 'good' is not a number"]),
    'rating 0': (1, '1\t1\t0\t874965758', ["rating '0' is outside 1..5"]),
    'rating 6': (1, '1\t1\t6\t874965758', ["rating '6' is outside 1..5"]),
    'rating 7': (2, '1\t2\t7\t876893171', ["rating '7' is outside 1..5"]),
    'unknown movie': (3, '2\t999\t4\t878542960', ["movie id '999' is not in", 'u.item']),
    'unknown user': (4, '77\t1\t1\t876892818', ["user id '77' is not in", 'u.user']),
    'bad timestamp': (5, '3\t543\t2\tyesterday', ["timestamp 'yesterday' is not a whole"]),
}


@pytest.mark.parametrize('case', BAD_ROWS, ids=list(BAD_ROWS))
def test_bad_rating_row_fails_inside_beam_naming_file_line_and_value(tmp_path, case):
    line_number, bad_line, fragments = BAD_ROWS[case]
    ratings = data.with_line(data.RATING_LINES, line_number, bad_line)
    folder = data.write_folder(str(tmp_path / 'ml'), ratings)
    with pytest.raises(BadInputError) as raised:
        data.run_executor(str(tmp_path / 'out'), folder)
    text = str(raised.value)
    assert f'{os.path.join(folder, "u.data")} line {line_number}: ' in text
    for fragment in fragments:
        assert fragment in text
    assert SKIP_FIX in text


def test_skip_bad_rows_drops_and_counts_exactly_the_bad_rows(tmp_path, caplog):
    good = data.RATING_LINES
    bad = [bad_line for _, bad_line, _ in BAD_ROWS.values()]
    # Bad rows between the good ones, so that line numbers shift.
    lines = [line for pair in zip(good, bad) for line in pair] + bad[len(good):]
    folder = data.write_folder(str(tmp_path / 'ml'), lines)
    with caplog.at_level(logging.WARNING, logger='absl'):
        run = data.run_executor(str(tmp_path / 'out'), folder, skip_bad_rows=True)
    assert run.skipped_rows == len(bad) == 11
    kept = sorted(ids for split in ('train', 'eval', 'test') for ids in run.ids(split))
    assert kept == sorted((line.split('\t')[0], line.split('\t')[1]) for line in good)
    warning = caplog.text
    assert 'Skipped 11 bad rating rows' in warning
    # The first reasons, in line order: line 2 is the first bad row.
    assert 'u.data line 2: ' in warning and "'1\\t2\\t3' has 3 fields" in warning


class _ResultWithoutMetrics(PipelineResult):
    """A finished run whose metrics() raises, as Beam's DaskRunner's result does."""

    def __init__(self, result: PipelineResult):
        super().__init__(result.state)
        self._result = result

    def wait_until_finish(self, duration=None):
        return self._result.wait_until_finish(duration)

    def metrics(self):
        raise NotImplementedError('this runner reports no metrics')


class _RunnerWithoutMetrics(PipelineRunner):
    """Beam's local runner, reporting no metrics."""

    def run_pipeline(self, pipeline, options):
        return _ResultWithoutMetrics(FnApiRunner().run_pipeline(pipeline, options))


def test_examples_and_skipped_rows_are_counted_without_the_runners_metrics(tmp_path, caplog):
    lines = data.RATING_LINES + [bad_line for _, bad_line, _ in BAD_ROWS.values()]
    folder = data.write_folder(str(tmp_path / 'ml'), lines)
    with caplog.at_level(logging.INFO, logger='absl'):
        run = data.run_executor(str(tmp_path / 'out'), folder, runner=_RunnerWithoutMetrics(),
                                skip_bad_rows=True)
    assert run.skipped_rows == len(BAD_ROWS)
    written = ', '.join(f'{len(run.examples[split])} {split}'
                        for split in ('train', 'eval', 'test'))
    assert f'MovieLens examples (100k format, hash split): {written}.' in caplog.text
    assert sum(len(examples) for examples in run.examples.values()) == len(data.RATING_LINES)
    assert f'Skipped {len(BAD_ROWS)} bad rating rows' in caplog.text


def test_skip_bad_rows_records_zero_when_nothing_is_skipped(tmp_path):
    folder = data.write_folder(str(tmp_path / 'ml'))
    run = data.run_executor(str(tmp_path / 'out'), folder, skip_bad_rows=True)
    assert run.skipped_rows == 0
    assert len(run.all_examples()) == len(data.RATING_LINES)


def test_all_rows_bad_fails_even_when_skipping(tmp_path):
    folder = data.write_folder(str(tmp_path / 'ml'), ['1\t1\t9\t874965758', '1\t2\t0\t1'])
    with pytest.raises(BadInputError, match='no examples were written: all 2 rating rows '
                                            "were bad.*rating '9' is outside 1..5"):
        data.run_executor(str(tmp_path / 'out'), folder, skip_bad_rows=True)


@pytest.mark.parametrize('content', ['', '\n\n  \n'], ids=['zero bytes', 'blank lines'])
def test_empty_ratings_file(tmp_path, content):
    folder = data.write_folder(str(tmp_path / 'ml'))
    with open(os.path.join(folder, 'u.data'), 'w') as stream:
        stream.write(content)
    with pytest.raises(BadInputError) as raised:
        data.run_executor(str(tmp_path / 'out'), folder)
    assert f'{os.path.join(folder, "u.data")} is empty: it holds no ratings' in str(raised.value)
    assert '--data-dir' in str(raised.value)


@pytest.mark.parametrize('missing', ['u.item', 'u.user'])
def test_missing_movie_or_user_file_names_it_and_the_folder(tmp_path, missing):
    folder = data.write_folder(str(tmp_path / 'ml'))
    os.remove(os.path.join(folder, missing))
    with pytest.raises(BadInputError) as raised:
        data.example_gen(folder)
    assert str(raised.value).startswith(f'{missing} is missing: {folder} holds u.data but no '
                                        f'{missing}.')
    assert '--data-dir' in str(raised.value)


def test_missing_ratings_file_names_what_was_found_and_what_each_release_holds(tmp_path):
    folder = str(tmp_path / 'empty')
    os.makedirs(os.path.join(folder, 'sub'))
    with open(os.path.join(folder, 'notes.txt'), 'w') as stream:
        stream.write('not ratings')
    with pytest.raises(BadInputError) as raised:
        data.example_gen(folder)
    assert str(raised.value).startswith(
        f'{folder} is not a MovieLens release: it holds notes.txt, sub/. Each release holds '
        'these files: ML-100K: u.data, u.item, u.user; ML-1M: ratings.dat, movies.dat, '
        'users.dat; ML-10M: ratings.dat, movies.dat, tags.dat; ML-20M, 25M, 32M, ml-latest '
        'and ml-latest-small (CSV): ratings.csv, movies.csv (tags.csv when present). Point '
        '--data-dir at such a folder')


def test_data_path_that_does_not_exist(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(BadInputError, match=f'--data-dir {missing} does not exist'):
        data.example_gen(missing)
    with pytest.raises(BadInputError, match=f'--data-dir {missing} does not exist'):
        data.example_gen(missing, source='tfds')


def test_truncated_zip(tmp_path):
    zip_path = data.zip_folder(data.write_folder(str(tmp_path / 'ml')),
                               str(tmp_path / 'ml-100k.zip'))
    with open(zip_path, 'rb') as stream:
        content = stream.read()
    with open(zip_path, 'wb') as stream:
        stream.write(content[:len(content) // 2])
    with pytest.raises(BadInputError, match=f'{zip_path} is not a readable zip file: it is '
                                            'truncated or corrupt'):
        data.example_gen(zip_path)


def test_corrupt_zip_member(tmp_path):
    folder = data.write_folder(str(tmp_path / 'ml'))
    zip_path = str(tmp_path / 'ml-100k.zip')
    with zipfile.ZipFile(zip_path, 'w', compression=zipfile.ZIP_STORED) as archive:
        for name in ('u.data', 'u.item', 'u.user'):
            archive.write(os.path.join(folder, name), f'ml-100k/{name}')
    with open(zip_path, 'rb') as stream:
        content = bytearray(stream.read())
    # The zip's directory is intact, but u.data's bytes no longer match their CRC.
    start = content.index(b'1\t1\t5\t874965758')
    content[start:start + 3] = b'9\t9'
    with open(zip_path, 'wb') as stream:
        stream.write(bytes(content))
    with pytest.raises(BadInputError, match=f'{zip_path} is not a readable zip file.*Bad CRC'):
        data.run_executor(str(tmp_path / 'out'), zip_path)


@pytest.mark.parametrize('encoding', ['utf-16', 'junk'])
def test_unreadable_encoding_of_the_movie_file(tmp_path, encoding):
    folder = data.write_folder(str(tmp_path / 'ml'))
    movie_file = os.path.join(folder, 'u.item')
    if encoding == 'junk':
        with open(movie_file, 'ab') as stream:
            stream.write(b'4|Junk\x00\x01\x02|01-Jan-1995\n')
        expected_line = 4
    else:
        data.write_folder(folder, movie_encoding='utf-16')
        expected_line = 1
    with pytest.raises(BadInputError) as raised:
        data.run_executor(str(tmp_path / 'out'), folder)
    text = str(raised.value)
    assert text.startswith(f'{movie_file} line {expected_line}: unreadable encoding: ')
    assert 'holds control characters' in text and 'Save it as latin-1' in text


def test_bad_movie_line_is_not_skippable(tmp_path):
    movies = data.with_line(data.MOVIE_LINES, 2, '2|GoldenEye (1995)|01-Jan-1995')
    folder = data.write_folder(str(tmp_path / 'ml'), movies=movies)
    with pytest.raises(BadInputError, match=r"u\.item line 2: '2\|GoldenEye \(1995\)\|01-Jan-"
                                            r"1995' has 3 fields; expected 24"):
        data.run_executor(str(tmp_path / 'out'), folder, skip_bad_rows=True)


def test_bad_component_arguments_are_wiring_errors_not_bad_data():
    with pytest.raises(ValueError, match="predefined split 'u9' is not one of u1, u2") as raised:
        data.example_gen('.', predefined_split='u9')
    assert not isinstance(raised.value, BadInputError)
    with pytest.raises(ValueError, match="source 'csv' is not 'grouplens' or 'tfds'"):
        data.example_gen('.', source='csv')
    with pytest.raises(ValueError, match=r'split_buckets \[72, 28\] must be 3 positive'):
        data.example_gen('.', split_buckets=(72, 28))


def test_predefined_split_files_missing(tmp_path):
    folder = data.write_folder(str(tmp_path / 'ml'))
    with pytest.raises(BadInputError, match='u1.base and u1.test not found in'):
        data.run_executor(str(tmp_path / 'out'), folder, predefined_split='u1')


def test_tfds_data_set_that_is_not_prepared(tmp_path):
    with pytest.raises(BadInputError, match=f'movielens/100k-ratings is not prepared in '
                                            f'{tmp_path}, and this pipeline downloads nothing'):
        data.run_executor(str(tmp_path / 'out'), str(tmp_path), source='tfds')
    with pytest.raises(ValueError, match="tfds_name 'movielens/25m-movies' is not one of"):
        data.example_gen(str(tmp_path), source='tfds',
                            tfds_name='movielens/25m-movies')
