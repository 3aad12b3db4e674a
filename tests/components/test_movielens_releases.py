"""The later MovieLens releases through the ExampleGen's executor: ML-10M and the CSV family
(ratings.csv, ...) from hand-written folders, the 25M-shaped TFDS config, each release's
rating scale, and bad rows in each format; and how a release is told from the others."""
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from components.movielens import contract
from components.movielens.errors import BadInputError
from models import features
from tests.components import movielens_data as data
from tests.components import release_files as files

SKIP_FIX = 'pass --skip-bad-rows to drop such rows'


@pytest.fixture(scope='module')
def csv_run(tmp_path_factory):
    folder = files.write_csv_release(str(tmp_path_factory.mktemp('csv') / 'ml-latest-small'))
    return data.run_executor(str(tmp_path_factory.mktemp('csv_run')), folder)


@pytest.fixture(scope='module')
def run_10m(tmp_path_factory):
    folder = files.write_10m_release(str(tmp_path_factory.mktemp('10m') / 'ml-10M100K'))
    return data.run_executor(str(tmp_path_factory.mktemp('run_10m')), folder)


def by_movie(run: data.Run):
    return {example[features.MOVIE_ID][0]: example for example in run.all_examples()}


@pytest.mark.parametrize('release', ['csv', '10m'])
def test_every_rating_becomes_an_example_without_user_features(csv_run, run_10m, release):
    run = csv_run if release == 'csv' else run_10m
    assert run.artifact.get_string_custom_property('format') == release
    assert run.artifact.get_string_custom_property('split') == 'hash'
    assert run.skipped_rows == 0
    expected = {(user, movie): (float(rating), timestamp)
                for user, movie, rating, timestamp in files.RATINGS}
    examples = run.all_examples()
    assert {(e['user_id'][0], e['movie_id'][0]): (e['user_rating'][0], e['timestamp'][0])
            for e in examples} == expected
    assert len(examples) == len(files.RATINGS)
    for example in examples:
        assert not set(example) & set(features.USER_FEATURES), example
        assert set(example) - {features.MOVIE_TAGS} == set(features.RATING_FEATURES)


@pytest.mark.parametrize('release', ['csv', '10m'])
def test_titles_genres_and_tags_come_through_whole(csv_run, run_10m, release):
    movies = by_movie(csv_run if release == 'csv' else run_10m)
    # Movie 4 and 5 share a title and stay two movies; 3's quotes and 2's comma survive.
    assert {movie_id: example['movie_title'][0] for movie_id, example in movies.items()} == {
        movie_id: title for movie_id, (title, _) in files.MOVIES.items()}
    assert movies['4']['movie_title'] == movies['5']['movie_title'] == ['Emma (1996)']
    assert {movie_id: example['movie_genres'] for movie_id, example in movies.items()} == \
        files.EXPECTED_GENRES
    assert {movie_id: example['movie_tags'] for movie_id, example in movies.items()
            if 'movie_tags' in example} == files.EXPECTED_TAGS


def test_half_stars_keep_their_value(csv_run):
    ratings = sorted(example['user_rating'][0] for example in csv_run.all_examples())
    assert ratings == [0.5, 1.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]


def test_the_same_ratings_land_in_the_same_splits_in_both_formats(csv_run, run_10m):
    for split in features.SPLITS:
        assert csv_run.ids(split) == run_10m.ids(split)


def test_a_csv_release_without_tags_has_no_movie_tags(tmp_path):
    folder = files.write_csv_release(str(tmp_path / 'ml'), tags_csv=None, line_ending='\n')
    run = data.run_executor(str(tmp_path / 'out'), folder)
    assert len(run.all_examples()) == len(files.RATINGS)
    assert not any('movie_tags' in example for example in run.all_examples())


def test_predefined_split_of_10m_reads_r1_train_and_test(tmp_path):
    lines = [files.dat_rating(*row) for row in files.RATINGS]
    folder = files.write_10m_release(str(tmp_path / 'ml'), r1_train=lines[:6],
                                     r1_test=lines[6:])
    run = data.run_executor(str(tmp_path / 'out'), folder, predefined_split='r1')
    assert run.artifact.get_string_custom_property('split') == 'predefined'
    assert run.ids('test') == [('4', '1'), ('4', '3')]
    assert len(run.ids('train') + run.ids('eval')) == 6


def test_predefined_split_files_missing_in_10m_says_how_to_make_them(tmp_path):
    folder = files.write_10m_release(str(tmp_path / 'ml'))
    with pytest.raises(BadInputError, match='r2.train and r2.test not found in .*Run '
                                            'split_ratings.sh'):
        data.example_gen(folder, predefined_split='r2')
    with pytest.raises(BadInputError, match='predefined split u1 needs u1.base and u1.test, '
                                            'which only ML-100K has; .* holds ML-10M'):
        data.example_gen(folder, predefined_split='u1')


def _tfds_25m_rows():
    return [
        {'movie_id': b'1', 'movie_title': b'Toy Story (1995)',
         'movie_genres': np.array([2, 3], np.int64), 'user_id': b'7',
         'user_rating': np.float32(3.5), 'timestamp': np.int64(1445714994)},
        {'movie_id': b'6', 'movie_title': b'Pull My Daisy (1958)',
         'movie_genres': np.array([20], np.int64), 'user_id': b'8',
         'user_rating': np.float32(0.5), 'timestamp': np.int64(1306463578)},
        {'movie_id': b'7', 'movie_title': b'Everest (1998)',
         'movie_genres': np.array([6, 11], np.int64), 'user_id': b'8',
         'user_rating': np.float32(5.0), 'timestamp': np.int64(1306463600)},
    ]


def test_tfds_25m_ratings_with_mock_data(tmp_path):
    def as_dataset(builder, split, **unused_kwargs):
        return tf.data.Dataset.from_generator(
            _tfds_25m_rows, output_signature=builder.info.features.get_tensor_spec())

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        run = data.run_executor(str(tmp_path / 'out'), str(tmp_path), source='tfds',
                                tfds_name='movielens/25m-ratings')
    assert run.artifact.get_string_custom_property('format') == 'csv'
    movies = by_movie(run)
    assert movies['1'] == {'movie_id': ['1'], 'movie_title': ['Toy Story (1995)'],
                           'movie_genres': ['Animation', 'Children'], 'user_id': ['7'],
                           'user_rating': [3.5], 'timestamp': [1445714994]}
    assert movies['6']['movie_genres'] == ['unknown']  # TFDS's '(no genres listed)'
    assert movies['7']['movie_genres'] == ['Documentary', 'IMAX']


# Each release's rating scale.

@pytest.mark.parametrize('skip', [False, True], ids=['refused', 'skipped'])
def test_a_half_star_in_100k_is_a_bad_row(tmp_path, skip):
    ratings = data.with_line(data.RATING_LINES, 2, '1\t2\t3.5\t876893171')
    folder = data.write_folder(str(tmp_path / 'ml'), ratings)
    if not skip:
        with pytest.raises(BadInputError) as raised:
            data.run_executor(str(tmp_path / 'out'), folder)
        assert str(raised.value).startswith(
            f"{os.path.join(folder, 'u.data')} line 2: rating '3.5' is not on the ML-100K "
            "scale, 1 to 5 in whole stars. Fix the line, or pass --skip-bad-rows to drop such "
            'rows (they are counted).')
        return
    run = data.run_executor(str(tmp_path / 'out'), folder, skip_bad_rows=True)
    assert run.skipped_rows == 1
    assert ('1', '2') not in [ids for split in features.SPLITS for ids in run.ids(split)]
    assert len(run.all_examples()) == len(data.RATING_LINES) - 1


def test_rating_scales_of_the_contract():
    assert contract.RATING_SCALES == {
        '100k': contract.RatingScale(1.0, 5.0, 1.0), '1m': contract.RatingScale(1.0, 5.0, 1.0),
        '10m': contract.RatingScale(0.5, 5.0, 0.5), 'csv': contract.RatingScale(0.5, 5.0, 0.5)}
    half = contract.RATING_SCALES['csv']
    assert [value for value in np.arange(0, 5.6, 0.25) if half.allows(value)] == [
        0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    whole = contract.RATING_SCALES['100k']
    assert [value for value in np.arange(0, 5.6, 0.5) if whole.allows(value)] == [
        1.0, 2.0, 3.0, 4.0, 5.0]


# Bad rows in each format: (line to replace, the bad line, what the message must say).
BAD_CSV_ROWS = {
    'user id': (2, 'x1,1,4.0,964982703', "user id 'x1' is not a whole number"),
    'above the scale': (3, '1,2,5.5,964981247', "rating '5.5' is outside 0.5..5"),
    'between half stars': (4, '2,4,3.25,1445714994', "rating '3.25' is not on the ML-20M, "
                                                     '25M, 32M, ml-latest and ml-latest-small '
                                                     '(CSV) scale, 0.5 to 5 in steps of 0.5'),
    'stray quote': (5, '2,"5,5.0,1445715054', "'2,\"5,5.0,1445715054' is not a valid CSV "
                                              'line'),
    'unknown movie': (6, '3,99,2.5,1306463578', "movie id '99' is not in"),
    'three fields': (7, '3,7,4.5', "'3,7,4.5' has 3 fields; expected 4 (user id, movie id, "
                                   'rating, timestamp) separated by commas'),
}
BAD_10M_ROWS = {
    'between half stars': (1, '1::1::3.3::964982703', "rating '3.3' is not on the ML-10M "
                                                      'scale, 0.5 to 5 in steps of 0.5'),
    'zero': (2, '1::2::0::964981247', "rating '0' is outside 0.5..5"),
    'unknown movie': (3, '2::99::0.5::1445714994', "movie id '99' is not in"),
    'tabs': (4, '2\t5\t5\t1445715054', "has 1 fields; expected 4 (user id, movie id, rating, "
                                       "timestamp) separated by '::'"),
}


@pytest.mark.parametrize('case', BAD_CSV_ROWS, ids=list(BAD_CSV_ROWS))
def test_bad_csv_row_names_file_line_and_value(tmp_path, case):
    line_number, bad_line, fragment = BAD_CSV_ROWS[case]
    ratings = data.with_line(files.csv_lines()['ratings.csv'], line_number, bad_line)
    folder = files.write_csv_release(str(tmp_path / 'ml'), ratings_csv=ratings)
    with pytest.raises(BadInputError) as raised:
        data.run_executor(str(tmp_path / 'out'), folder)
    text = str(raised.value)
    assert text.startswith(f'{os.path.join(folder, "ratings.csv")} line {line_number}: ')
    assert fragment in text and SKIP_FIX in text


@pytest.mark.parametrize('case', BAD_10M_ROWS, ids=list(BAD_10M_ROWS))
def test_bad_10m_row_names_file_line_and_value(tmp_path, case):
    line_number, bad_line, fragment = BAD_10M_ROWS[case]
    ratings = data.with_line(files.dat_lines()['ratings.dat'], line_number, bad_line)
    folder = files.write_10m_release(str(tmp_path / 'ml'), ratings_dat=ratings)
    with pytest.raises(BadInputError) as raised:
        data.run_executor(str(tmp_path / 'out'), folder)
    text = str(raised.value)
    assert text.startswith(f'{os.path.join(folder, "ratings.dat")} line {line_number}: ')
    assert fragment in text and SKIP_FIX in text


def test_a_half_star_in_1m_is_a_bad_row(tmp_path):
    folder = data.to_1m_format(data.write_folder(str(tmp_path / '100k')), str(tmp_path / '1m'))
    with open(os.path.join(folder, 'ratings.dat'), 'a') as stream:
        stream.write('1::543::3.5::978300760\n')
    with pytest.raises(BadInputError, match=r"ratings\.dat line 7: rating '3\.5' is not on "
                                            'the ML-1M scale, 1 to 5 in whole stars'):
        data.run_executor(str(tmp_path / 'out'), folder)


@pytest.mark.parametrize('release', ['csv', '10m'])
def test_skip_bad_rows_drops_and_counts_them_in_each_format(tmp_path, release):
    if release == 'csv':
        lines = files.csv_lines()['ratings.csv']
        for line_number, bad_line, _ in BAD_CSV_ROWS.values():
            lines = data.with_line(lines, line_number, bad_line)
        folder = files.write_csv_release(str(tmp_path / 'ml'), ratings_csv=lines)
        bad = BAD_CSV_ROWS
    else:
        lines = files.dat_lines()['ratings.dat']
        for line_number, bad_line, _ in BAD_10M_ROWS.values():
            lines = data.with_line(lines, line_number, bad_line)
        folder = files.write_10m_release(str(tmp_path / 'ml'), ratings_dat=lines)
        bad = BAD_10M_ROWS
    run = data.run_executor(str(tmp_path / 'out'), folder, skip_bad_rows=True)
    assert run.skipped_rows == len(bad)
    assert len(run.all_examples()) == len(files.RATINGS) - len(bad)


def test_csv_files_must_start_with_their_header(tmp_path):
    lines = files.csv_lines()['ratings.csv']
    folder = files.write_csv_release(str(tmp_path / 'ml'), ratings_csv=lines[1:])
    with pytest.raises(BadInputError, match=r"ratings\.csv line 1: '1,1,4\.0,964982703' is not "
                                            'the header userId,movieId,rating,timestamp'):
        data.run_executor(str(tmp_path / 'out'), folder, skip_bad_rows=True)


def test_bad_movie_and_tag_lines_are_not_skippable(tmp_path):
    movies = data.with_line(files.csv_lines()['movies.csv'], 3, '2,Misérables, Les (1995),Drama')
    folder = files.write_csv_release(str(tmp_path / 'movies'), movies_csv=movies)
    with pytest.raises(BadInputError, match=r"movies\.csv line 3: '2,Misérables, Les \(1995\),"
                                            r"Drama' has 4 fields; expected 3: movieId,title,"
                                            'genres'):
        data.run_executor(str(tmp_path / 'out'), folder, skip_bad_rows=True)
    movies = data.with_line(files.csv_lines()['movies.csv'], 2, '1,Toy Story (1995),Cartoon')
    folder = files.write_csv_release(str(tmp_path / 'genre'), movies_csv=movies)
    with pytest.raises(BadInputError, match=r"movies\.csv line 2: genre 'Cartoon' is not a "
                                            'MovieLens genre'):
        data.run_executor(str(tmp_path / 'out2'), folder)
    tags = data.with_line(files.dat_lines()['tags.dat'], 4, '3::x::funny::1139045764')
    folder = files.write_10m_release(str(tmp_path / 'tags'), tags_dat=tags)
    with pytest.raises(BadInputError, match=r"tags\.dat line 4: movie id 'x' is not a whole "
                                            'number'):
        data.run_executor(str(tmp_path / 'out3'), folder, skip_bad_rows=True)


# Telling the releases apart.

def test_ratings_dat_with_neither_users_nor_tags_is_no_release(tmp_path):
    folder = files.write_10m_release(str(tmp_path / 'ml'), tags_dat=None)
    with pytest.raises(BadInputError) as raised:
        data.example_gen(folder)
    assert str(raised.value).startswith(
        f'{folder} is not a MovieLens release: it holds movies.dat, ratings.dat. Each release '
        'holds these files: ML-100K: u.data, u.item, u.user; ML-1M: ratings.dat, movies.dat, '
        'users.dat; ML-10M: ratings.dat, movies.dat, tags.dat;')


def test_files_of_two_releases_in_one_folder(tmp_path):
    folder = files.write_10m_release(str(tmp_path / 'ml'), users_dat=['1::M::25::4::55455'])
    with pytest.raises(BadInputError, match='holds files of ML-1M and ML-10M'):
        data.example_gen(folder)


def test_a_csv_release_needs_movies_csv(tmp_path):
    folder = files.write_csv_release(str(tmp_path / 'ml'), movies_csv=None)
    with pytest.raises(BadInputError, match=f'movies.csv is missing: {folder} holds ratings.csv '
                                            'but no movies.csv'):
        data.example_gen(folder)


def test_a_release_in_a_zip_sub_folder(tmp_path):
    folder = files.write_csv_release(str(tmp_path / 'ml-25m'))
    zip_path = data.zip_folder(folder, str(tmp_path / 'ml-25m.zip'), top='ml-25m')
    run = data.run_executor(str(tmp_path / 'out'), zip_path,
                            read_features=[features.MOVIE_ID, features.MOVIE_TITLE])
    assert run.artifact.get_string_custom_property('format') == 'csv'
    assert {e['movie_title'][0] for e in run.all_examples()} == {
        title for title, _ in files.MOVIES.values()}


def test_a_rating_scale_lists_and_rounds_to_its_ratings():
    assert contract.WHOLE_STARS.ratings() == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert contract.HALF_STARS.ratings() == tuple(0.5 * k for k in range(1, 11))
    values = np.array([-1.0, 0.74, 0.76, 2.24, 4.9, 7.0])
    assert contract.HALF_STARS.nearest(values).tolist() == [0.5, 0.5, 1.0, 2.0, 5.0, 5.0]
    assert contract.WHOLE_STARS.nearest(values).tolist() == [1.0, 1.0, 1.0, 2.0, 5.0, 5.0]
