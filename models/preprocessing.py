"""The tf.Transform preprocessing_fn: every vocabulary the model uses is built here, once.

Analyzers run over the train split only, so a user or movie first seen in eval, test or at
serving time falls into the out-of-vocabulary bucket, exactly as it will in production.
"""
import tensorflow as tf
import tensorflow_transform as tft

from models import features

# How many leading characters of a zip code describe a region: the first digit of a US zip
# is one of ten national areas; two digits narrow it to a state or two.
ZIP_PREFIX_LENGTH = 2


def _squeeze(tensor):
    """Dense [batch, 1] features become [batch]; the model works on one value per example."""
    return tf.squeeze(tensor, axis=1)


def _vocabulary_index(values, index_feature):
    """The values' indices in their vocabulary, most frequent first.

    Each value weighs one, so the vocabulary is the one its plain counts would give. The
    weights make tf.Transform count each batch's values in the graph, so that Beam sees a
    batch's distinct values once each, not every value it holds as an element of its own
    (1.06x to 1.11x faster at 1M ratings, docs/performance.md).
    """
    flat_values = values.values if isinstance(values, tf.SparseTensor) else values
    return tft.compute_and_apply_vocabulary(
        values, num_oov_buckets=features.NUM_OOV_BUCKETS,
        weights=tf.ones_like(flat_values, tf.float32),
        vocab_filename=features.VOCABULARY_OF[index_feature])


def release_year(titles):
    """The year in a MovieLens title such as "Toy Story (1995)", or NaN when there is none."""
    pattern = r'^.*\((\d{4})\)\s*$'
    has_year = tf.strings.regex_full_match(titles, pattern)
    digits = tf.strings.regex_replace(titles, pattern, r'\1')
    year = tf.strings.to_number(tf.where(has_year, digits, 'nan'), tf.float32)
    return year


def frequency_rank_bucket(index, index_feature):
    """The bucket of a vocabulary index by its rank: tf.Transform orders a vocabulary by
    frequency, so index / size places a user or movie among the most or least active."""
    size = tf.cast(tft.experimental.get_vocabulary_size_by_name(
        features.VOCABULARY_OF[index_feature]), tf.float64)
    rank = tf.cast(index, tf.float64) / tf.maximum(size, 1.0)
    bounds = tf.constant([bound for bound, _ in features.FREQUENCY_RANK_BUCKETS], tf.float64)
    labels = tf.constant([label for _, label in features.FREQUENCY_RANK_BUCKETS]
                         + [features.UNSEEN_BUCKET])
    return tf.gather(labels, tf.searchsorted(bounds, rank, side='right'))


def _user_side_values(inputs, index_feature):
    """The raw values a user side feature indexes: the age bucket as a string, the zip code's
    leading digits, the others as they are."""
    values = _squeeze(inputs[features.USER_SIDE_FEATURE_SOURCES[index_feature]])
    if index_feature == features.USER_AGE_INDEX:
        return tf.strings.as_string(values)
    if index_feature == features.USER_ZIP_PREFIX_INDEX:
        return tf.strings.substr(values, 0, ZIP_PREFIX_LENGTH)
    return values


def preprocessing_fn(inputs):
    """Maps raw MovieLens features to the model's indices and scaled numbers.

    A user side feature is made only when the release has its raw feature (`inputs` holds
    what the schema describes): nothing stands in for what a release does not record.
    """
    user_id = _squeeze(inputs[features.USER_ID])
    movie_id = _squeeze(inputs[features.MOVIE_ID])
    movie_title = _squeeze(inputs[features.MOVIE_TITLE])

    year = release_year(movie_title)
    known_year = tf.math.is_finite(year)
    # The analyzers see only real years; an unknown year becomes 0, the mean after scaling.
    year_mean = tft.mean(tf.boolean_mask(year, known_year))
    year_std = tf.sqrt(tft.var(tf.boolean_mask(year, known_year))) + 1e-6
    scaled_year = tf.where(known_year, (year - year_mean) / year_std, 0.0)

    user_index = _vocabulary_index(user_id, features.USER_INDEX)
    movie_index = _vocabulary_index(movie_id, features.MOVIE_INDEX)
    outputs = {
        features.USER_INDEX: user_index,
        features.MOVIE_INDEX: movie_index,
        features.MOVIE_GENRE_INDICES: _vocabulary_index(
            inputs[features.MOVIE_GENRES], features.MOVIE_GENRE_INDICES),
        features.MOVIE_YEAR: scaled_year,
        features.USER_ACTIVITY_BUCKET: frequency_rank_bucket(user_index, features.USER_INDEX),
        features.MOVIE_POPULARITY_BUCKET: frequency_rank_bucket(movie_index,
                                                                features.MOVIE_INDEX),
        features.LABEL: _squeeze(inputs[features.LABEL]),
    }
    for index_feature, source in features.USER_SIDE_FEATURE_SOURCES.items():
        if source in inputs:
            outputs[index_feature] = _vocabulary_index(_user_side_values(inputs, index_feature),
                                                       index_feature)
    # The tags users applied to a movie (movie_tags, in the releases with a tags file) are
    # not used yet: they would be a movie side feature like the genres, kept only if they
    # lower the eval RMSE of a release that has them.
    return outputs
