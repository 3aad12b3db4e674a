"""Bad data never trains: local_runner.main on small generated data with one defect.

Each run must exit non-zero with the ExampleGen's message on stderr (the file, the 1-based
line, the value), without a traceback, with no Trainer execution in MLMD and no
serving_model dir. Most runs fail inside the ExampleGen in a second or two; a truncated
zip fails while the pipeline is built.

Schema drift is the other kind of bad data: tests/pipeline/test_local_runner_e2e.py runs
an age outside the schema's domain into the AnomalyGate. A missing feature or a feature
of the wrong type cannot be made from data: every source (GroupLens files, TFDS, synthetic)
becomes examples through components/movielens/tf_examples.py, which writes each feature
with a fixed type, so only a change of that code or of the schema could produce one.
"""
import os
import shutil
import zipfile

import pytest

import local_runner
from runs import local
from datasets import synthetic
from runs import record as run_record
from tests.components import movielens_data

RATINGS = 600
BAD_LINE = 5  # 1-based line of u.data that a defect replaces
# Ids far beyond what write_grouplens makes for RATINGS ratings.
UNKNOWN_MOVIE, UNKNOWN_USER = '99999', '88888'


def with_fields(line: str, **changes) -> str:
    """A u.data line with some of its fields (user, movie, rating, timestamp) replaced."""
    fields = dict(zip(('user', 'movie', 'rating', 'timestamp'), line.split('\t')))
    fields.update(changes)
    return '\t'.join(fields.values())


# Defect -> (makes the bad line from a good one, the value the message must quote).
# Every one of them is a rating row that --skip-bad-rows drops.
BAD_ROWS = {
    'too few fields': (lambda line: line.rsplit('\t', 1)[0], repr),
    'too many fields': (lambda line: line + '\t9', repr),
    'user id not an integer': (lambda line: with_fields(line, user='u17'), lambda _: "'u17'"),
    'movie id not an integer': (lambda line: with_fields(line, movie='5.5'),
                                lambda _: "'5.5'"),
    'rating 0': (lambda line: with_fields(line, rating='0'), lambda _: "rating '0'"),
    'rating 6': (lambda line: with_fields(line, rating='6'), lambda _: "rating '6'"),
    'rating 7': (lambda line: with_fields(line, rating='7'), lambda _: "rating '7'"),
    'rating not a number': (lambda line: with_fields(line, rating='good'),
                            lambda _: "rating 'good'"),
    'movie missing from u.item': (lambda line: with_fields(line, movie=UNKNOWN_MOVIE),
                                  lambda _: f"movie id '{UNKNOWN_MOVIE}' is not in"),
    'user missing from u.user': (lambda line: with_fields(line, user=UNKNOWN_USER),
                                 lambda _: f"user id '{UNKNOWN_USER}' is not in"),
}


def read_lines(path: str):
    with open(path, encoding='latin-1') as f:
        return f.read().splitlines()


def write_lines(path: str, lines) -> None:
    with open(path, 'w', encoding='latin-1', newline='\n') as f:
        f.write(''.join(line + '\n' for line in lines))


@pytest.fixture(scope='module')
def clean_data(tmp_path_factory) -> str:
    return synthetic.write_grouplens(str(tmp_path_factory.mktemp('clean') / 'ml'), RATINGS,
                                     seed=5)


@pytest.fixture
def data_copy(clean_data, tmp_path) -> str:
    """A copy of the clean data, for one test to damage."""
    return shutil.copytree(clean_data, str(tmp_path / 'ml'))


def run_and_expect_failure(output_dir, data_path, capfd) -> str:
    """Runs local_runner.main, checks that nothing was trained or pushed; returns stderr."""
    code = local_runner.main(['--data-dir', data_path, '--output-dir', str(output_dir)])
    err = capfd.readouterr().err
    assert code == local.EXIT_FAILED, err
    assert 'Traceback' not in err
    metadata = os.path.join(output_dir, 'metadata.sqlite')
    if os.path.exists(metadata):
        executions = run_record.RunRecord(run_record.connect(metadata)).executions()
        assert 'Trainer' not in executions and 'Transform' not in executions
    assert not os.path.exists(os.path.join(output_dir, 'serving_model'))
    return err


@pytest.mark.parametrize('defect', BAD_ROWS, ids=list(BAD_ROWS))
def test_a_bad_rating_row_stops_the_run_naming_file_line_and_value(data_copy, tmp_path,
                                                                   capfd, defect):
    make_bad_line, quoted_value = BAD_ROWS[defect]
    ratings_path = os.path.join(data_copy, 'u.data')
    lines = read_lines(ratings_path)
    bad_line = make_bad_line(lines[BAD_LINE - 1])
    lines[BAD_LINE - 1] = bad_line
    write_lines(ratings_path, lines)

    err = run_and_expect_failure(tmp_path / 'run', data_copy, capfd)

    assert 'The run failed in MovieLensExampleGen: ' in err
    assert f'{ratings_path} line {BAD_LINE}: ' in err
    assert quoted_value(bad_line) in err
    assert '--skip-bad-rows' in err  # the fix


def test_an_empty_ratings_file_stops_the_run(data_copy, tmp_path, capfd):
    ratings_path = os.path.join(data_copy, 'u.data')
    write_lines(ratings_path, [])
    err = run_and_expect_failure(tmp_path / 'run', data_copy, capfd)
    assert f'{ratings_path} is empty: it holds no ratings' in err


def test_an_unreadable_movie_file_names_its_line(data_copy, tmp_path, capfd):
    movies_path = os.path.join(data_copy, 'u.item')
    lines = read_lines(movies_path)
    with open(movies_path, 'ab') as f:
        f.write(b'9999|Junk\x00\x01\x02|01-Jan-1995\n')
    err = run_and_expect_failure(tmp_path / 'run', data_copy, capfd)
    assert f'{movies_path} line {len(lines) + 1}: unreadable encoding: ' in err
    assert "'9999|Junk\\x00\\x01\\x02|01-Jan-1995'" in err


def test_a_truncated_zip_stops_the_run_before_it_starts(clean_data, tmp_path, capfd):
    zip_path = movielens_data.zip_folder(clean_data, str(tmp_path / 'ml-100k.zip'))
    with open(zip_path, 'rb') as f:
        content = f.read()
    with open(zip_path, 'wb') as f:
        f.write(content[:len(content) // 2])

    err = run_and_expect_failure(tmp_path / 'run', zip_path, capfd)

    # MovieLensExampleGen reads the zip's directory while the pipeline is built.
    assert f'The run did not start: {zip_path} is not a readable zip file: it is truncated ' \
           'or corrupt' in err
    assert not os.path.exists(tmp_path / 'run' / 'metadata.sqlite')


def test_a_corrupt_zip_member_stops_the_run(clean_data, tmp_path, capfd):
    zip_path = str(tmp_path / 'ml-100k.zip')
    with zipfile.ZipFile(zip_path, 'w', compression=zipfile.ZIP_STORED) as archive:
        for name in ('u.data', 'u.item', 'u.user'):
            archive.write(os.path.join(clean_data, name), f'ml-100k/{name}')
    first_rating = read_lines(os.path.join(clean_data, 'u.data'))[0].encode()
    with open(zip_path, 'rb') as f:
        content = bytearray(f.read())
    # The zip's directory stays intact; u.data's bytes no longer match their CRC.
    start = content.index(first_rating)
    content[start:start + 1] = b'9' if content[start:start + 1] != b'9' else b'8'
    with open(zip_path, 'wb') as f:
        f.write(bytes(content))

    err = run_and_expect_failure(tmp_path / 'run', zip_path, capfd)

    assert 'The run failed in MovieLensExampleGen: ' in err
    assert f'{zip_path} is not a readable zip file' in err and 'Bad CRC' in err
