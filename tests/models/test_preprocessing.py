"""preprocessing_fn through real tf.Transform analyzers: vocabularies and OOV mapping."""
import collections

import numpy as np
import tensorflow as tf

from models import features, preprocessing
from tests.models.data import make_row, raw_feature_spec, serialize, training_rows


def test_user_vocabulary_holds_training_users_most_frequent_first(transform_output):
    output, _ = transform_output
    vocabulary = output.vocabulary_by_name(features.USER_ID)
    assert vocabulary == [b'0', b'1', b'2', b'3']


def test_movie_vocabulary_is_of_ids_and_excludes_unrated_movies(transform_output):
    output, _ = transform_output
    vocabulary = output.vocabulary_by_name(features.VOCABULARY_OF[features.MOVIE_INDEX])
    assert sorted(vocabulary) == [b'0', b'1', b'2', b'3']
    assert vocabulary[0] == b'0'  # Toy Story, rated by all four users


def test_side_feature_vocabularies(transform_output):
    output, _ = transform_output
    assert sorted(output.vocabulary_by_name(features.USER_GENDER)) == [b'F', b'M']
    assert sorted(output.vocabulary_by_name(features.USER_ZIP_PREFIX)) == [
        b'10', b'32', b'94']
    assert sorted(output.vocabulary_by_name(features.MOVIE_GENRES)) == [
        b'Action', b'Animation', b'Comedy', b'Drama', b'Romance']


def test_genre_vocabulary_counts_each_rating_of_each_genre(transform_output):
    output, _ = transform_output
    counts = collections.Counter(genre for row in training_rows()
                                 for genre in row[features.MOVIE_GENRES])
    vocabulary = output.vocabulary_by_name(features.MOVIE_GENRES)
    assert sorted(vocabulary) == sorted(counts)
    assert [counts[genre] for genre in vocabulary] == sorted(counts.values(), reverse=True)
    assert counts.most_common(1)[0][1] == 4  # Toy Story's two genres, rated four times


def test_unknown_user_and_title_map_to_the_oov_bucket(transform_output):
    output, _ = transform_output
    example = serialize(make_row(user=999, movie=4, rating=3))  # neither seen in training
    raw = tf.io.parse_example([example], raw_feature_spec())
    transformed = output.transform_features_layer()(raw)
    assert transformed[features.USER_INDEX].numpy().tolist() == [4]
    assert transformed[features.MOVIE_INDEX].numpy().tolist() == [4]
    # 'unknown' was never a training genre: its single index is the OOV one.
    assert tf.sparse.to_dense(transformed[features.MOVIE_GENRE_INDICES]).numpy().tolist() == [[5]]
    assert transformed[features.MOVIE_YEAR].numpy().tolist() == [0.0]  # no year in title


def test_known_features_get_vocabulary_indices(transform_output):
    _, transformed = transform_output
    first = transformed[0]  # user 0, Toy Story
    assert first[features.USER_INDEX] == 0
    assert first[features.MOVIE_INDEX] == 0
    assert first[features.LABEL] in (1.0, 2.0, 3.0, 4.0, 5.0)
    assert len(first[features.MOVIE_GENRE_INDICES]) == 2


def test_release_year_is_z_scored_over_training_titles(transform_output):
    _, transformed = transform_output
    years = {row[features.MOVIE_INDEX]: row[features.MOVIE_YEAR] for row in transformed}
    # Three 1995 titles and one 1942 one: 1942 lies far below the mean, 1995 above it.
    assert min(years.values()) < -1.0
    assert max(years.values()) > 0.0
    assert np.isclose(np.mean([row[features.MOVIE_YEAR] for row in transformed]), 0.0,
                      atol=1e-5)


def test_release_year_parses_titles():
    titles = tf.constant(['Toy Story (1995)', 'Untitled', 'Brazil (1985) '])
    years = preprocessing.release_year(titles).numpy()
    assert years[0] == 1995 and np.isnan(years[1]) and years[2] == 1985


def test_frequency_rank_buckets_order_users_by_activity(transform_output):
    _, transformed = transform_output
    by_user = {row[features.USER_INDEX]: row[features.USER_ACTIVITY_BUCKET]
               for row in transformed}
    # Four users: index 0 (the most active) is in the top 10%, 1 in 10-50%, 2 and 3 below.
    assert by_user == {0: b'top 10%', 1: b'10-50%', 2: b'bottom 50%', 3: b'bottom 50%'}


def test_frequency_rank_bucket_of_an_unseen_user_or_movie(transform_output):
    output, _ = transform_output
    example = serialize(make_row(user=999, movie=4, rating=3))
    transformed = output.transform_features_layer()(
        tf.io.parse_example([example], raw_feature_spec()))
    assert transformed[features.USER_ACTIVITY_BUCKET].numpy().tolist() == [b'unseen in training']
    assert transformed[features.MOVIE_POPULARITY_BUCKET].numpy().tolist() == [
        b'unseen in training']
