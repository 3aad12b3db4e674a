"""The reader's pieces: finding the GroupLens files, planning ratings shards, decoding
lines, the hash split, and the example bytes."""
import collections
import os
import zipfile

import pytest
import tensorflow as tf

from components.movielens import contract, grouplens, splits, tf_examples
from components.movielens.errors import BadInputError
from tests.components import movielens_data as data


def all_lines(shards):
    return [line for shard in shards for line in grouplens.read_shard(shard)]


@pytest.mark.parametrize('lines_per_shard', [1, 2, 3, 7, 1000])
@pytest.mark.parametrize('ending', [b'\n', b'\r\n'])
def test_shards_cover_every_line_once_with_its_number(tmp_path, lines_per_shard, ending):
    lines = [f'{n}\t{n}\t3\t87{n:07d}'.encode() for n in range(1, 12)]
    lines[4] = b''  # a blank line: skipped, but still counted
    content = ending.join(lines)  # the last line has no line ending
    path = tmp_path / 'u.data'
    path.write_bytes(content)
    shards = grouplens.plan_shards(grouplens.DataFile(str(path)), 'all', lines_per_shard)
    assert sum(shard.num_lines for shard in shards) == 11
    expected = [(number, line.decode()) for number, line in enumerate(lines, start=1) if line]
    assert all_lines(shards) == expected


def test_shards_of_a_zip_member(tmp_path):
    zip_path = str(tmp_path / 'ml-100k.zip')
    lines = [f'{n}\t1\t4\t874965758' for n in range(1, 2001)]
    with zipfile.ZipFile(zip_path, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('ml-100k/u.data', '\n'.join(lines) + '\n')
    shards = grouplens.plan_shards(grouplens.DataFile(zip_path, 'ml-100k/u.data'), 'all', 300)
    assert len(shards) == 7
    assert all_lines(shards) == list(enumerate(lines, start=1))


def test_locate_finds_the_single_sub_folder_and_both_formats(tmp_path):
    data.write_folder(str(tmp_path / 'outer' / 'ml-100k'))
    layout = grouplens.locate(str(tmp_path / 'outer'))
    assert layout.format == contract.FORMAT_100K
    assert layout.ratings.path == str(tmp_path / 'outer' / 'ml-100k' / 'u.data')
    assert (layout.input_base, layout.input_pattern) == (str(tmp_path / 'outer' / 'ml-100k'),
                                                         'u*')
    data.to_1m_format(str(tmp_path / 'outer' / 'ml-100k'), str(tmp_path / 'ml-1m'))
    layout = grouplens.locate(str(tmp_path / 'ml-1m'))
    assert layout.format == contract.FORMAT_1M and layout.input_pattern == '*.dat'


def test_locate_refuses_several_candidate_folders(tmp_path):
    data.write_folder(str(tmp_path / 'a'))
    data.write_folder(str(tmp_path / 'b'))
    with pytest.raises(BadInputError, match='holds several MovieLens folders'):
        grouplens.locate(str(tmp_path))


def test_movie_file_lines_decode_as_utf8_or_latin1(tmp_path):
    folder = data.write_folder(str(tmp_path / 'ml'))
    with open(os.path.join(folder, 'u.item'), 'ab') as stream:
        stream.write('4|Amélie (2001)|01-Jan-2001|||0|0|0|0|0|1|0|0|0|0|0|0|0|0|1|0|0|0|0\r\n'
                     .encode('utf-8'))
    movies = grouplens.read_movies(grouplens.locate(folder))
    assert movies['543'] == grouplens.Movie('Misérables, Les (1995)', ('Drama',))
    assert movies['4'] == grouplens.Movie('Amélie (2001)', ('Comedy', 'Romance'))
    assert movies['1'].genres == ('Animation', 'Children', 'Comedy')


def test_users_bucketize_ages_like_tfds(tmp_path):
    folder = data.write_folder(str(tmp_path / 'ml'))
    users = grouplens.read_users(grouplens.locate(folder))
    assert users['1'] == grouplens.User('M', 18, 'technician', '85711', 24)
    assert users['2'].bucketized_age == 50
    assert users['3'].bucketized_age == 1
    assert [grouplens.bucketize_age(age) for age in (0, 17, 18, 24, 25, 49, 56, 90)] == [
        1, 1, 18, 18, 25, 45, 56, 56]


def test_duplicate_movie_id(tmp_path):
    movies = data.MOVIE_LINES + [data.MOVIE_LINES[0]]
    folder = data.write_folder(str(tmp_path / 'ml'), movies=movies)
    with pytest.raises(BadInputError, match=r"u\.item line 4: movie id '1' is listed a second "
                                            r'time \(first on line 1\)'):
        grouplens.read_movies(grouplens.locate(folder))


def test_parse_rating_canonicalises_ids():
    assert grouplens.parse_rating('042\t007\t4\t874965758', '\t') == grouplens.Rating(
        '42', '7', 4.0, 874965758)
    assert grouplens.parse_rating('1::2::3::4', '::') == grouplens.Rating('1', '2', 3.0, 4)
    assert grouplens.parse_rating('1\t2\tnan\t4', '\t') == "rating 'nan' is not a number"


def test_hash_splitter_is_stable_and_proportional():
    splitter = splits.HashSplitter(('train', 'eval', 'test'), (72, 8, 20))
    pairs = [(str(user), str(movie)) for user in range(1, 101) for movie in range(1, 51)]
    first = [splitter(*pair) for pair in pairs]
    assert first == [splitter(*pair) for pair in reversed(pairs)][::-1]
    counts = collections.Counter(first)
    for split, share in (('train', 0.72), ('eval', 0.08), ('test', 0.20)):
        assert abs(counts[split] / len(pairs) - share) < 0.01, (split, counts)
    # Pinned values: a change of the hash would silently move every rating.
    assert [splits.hash_bucket(str(user), '1', 100) for user in (1, 2, 4, 6)] == [55, 73, 96, 72]
    assert [splitter(str(user), '1') for user in (1, 2, 4, 6)] == [
        'train', 'eval', 'test', 'eval']


@pytest.mark.parametrize('title_length', [10, 200, 20_000])  # 1-, 2- and 3-byte lengths
@pytest.mark.parametrize('user_id, movie_id, rating, timestamp', [
    ('42', '543', 4.0, 881250949),
    ('1', '2', 0.5, 0),
    # Ids of 1-, 2- and 3-byte lengths; timestamps before 1970 and far after.
    ('7' * 127, 'é' * 100, 3.5, -1),
    ('9' * 20_000, '3', 5.0, 2**62),
])
def test_joined_example_bytes_equal_the_proto_built_example(title_length, user_id, movie_id,
                                                            rating, timestamp):
    title = 'Misérables, Les (1995)' + 'x' * title_length
    serialized = tf_examples.rating_example(
        user_id, movie_id, rating, timestamp,
        tf_examples.movie_features(title, ['Drama', 'Romance']),
        tf_examples.user_features('F', 25, 'writer', '94043', 27))
    expected = tf.train.Example(features=tf.train.Features(feature={
        'user_id': _bytes_feature(user_id), 'movie_id': _bytes_feature(movie_id),
        'movie_title': _bytes_feature(title),
        'movie_genres': _bytes_feature('Drama', 'Romance'),
        'user_rating': tf.train.Feature(float_list=tf.train.FloatList(value=[rating])),
        'timestamp': tf.train.Feature(int64_list=tf.train.Int64List(value=[timestamp])),
        'user_gender': _bytes_feature('F'),
        'bucketized_user_age': tf.train.Feature(int64_list=tf.train.Int64List(value=[25])),
        'raw_user_age': tf.train.Feature(int64_list=tf.train.Int64List(value=[27])),
        'user_occupation_text': _bytes_feature('writer'),
        'user_zip_code': _bytes_feature('94043')}))
    assert tf.train.Example.FromString(serialized) == expected


def _bytes_feature(*values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[value.encode('utf-8') for value in values]))
