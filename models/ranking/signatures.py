"""The served model's signatures: what TF Serving, TFMA and rank.py call.

Each signature maps raw strings through the same tf.Transform graph the model was trained
on, so serving cannot drift from training. The signatures that take titles resolve each to
one movie as catalog.py documents (the most rated of the movies with that title).
`CONTRACT` is the served interface: the signatures below take their input specs from it,
docs/serving.md shows it as a table, and tests/models/test_signatures.py checks a saved
model against it.
"""
import tensorflow as tf

from models import features

SERVING_DEFAULT = 'serving_default'
TRANSFORM_FEATURES = 'transform_features'
EVALUATE = 'evaluate'
PREDICT_RATING = 'predict_rating'
RANK = 'rank'
TOP_K = 'top_k'

# Input keys.
EXAMPLES = 'examples'
MOVIE_TITLES = 'movie_titles'  # also an output key: the titles, best first
K = 'k'

# Output keys.
RATING = 'rating'  # the output key of every rating signature
BIAS_BASELINE_RATING = 'bias_baseline_rating'  # evaluate: the gate's baseline (bias_baseline.py)
MOVIE_IDS = 'movie_ids'  # the movie of each title; '' for a title not in the catalog
SCORES = 'scores'
KNOWN_TITLES = 'known_titles'  # per title: is it in the model's movie vocabulary?
KNOWN_USER = 'known_user'  # is the user in the model's user vocabulary?

_BATCH_OF_STRINGS = tf.TensorSpec([None], tf.string)
_RANKING = {
    MOVIE_TITLES: tf.TensorSpec([None], tf.string),
    MOVIE_IDS: tf.TensorSpec([None], tf.string),
    SCORES: tf.TensorSpec([None], tf.float32),
    KNOWN_TITLES: tf.TensorSpec([None], tf.bool),
    KNOWN_USER: tf.TensorSpec([], tf.bool),
}

# Signature name -> (inputs, outputs), each a dict of key -> TensorSpec. The user of `rank`
# and `top_k` is a scalar, which TF Serving's REST API takes in the columnar ("inputs")
# form as a bare JSON string. `transform_features` outputs whatever preprocessing_fn
# makes (None here). Only TFMA calls it and `evaluate`, which rates as serving_default does
# and adds the bias baseline's rating: serving_default keeps its single output, since TF
# Serving's REST answer changes shape with a second one.
CONTRACT = {
    SERVING_DEFAULT: ({EXAMPLES: _BATCH_OF_STRINGS},
                      {RATING: tf.TensorSpec([None], tf.float32)}),
    TRANSFORM_FEATURES: ({EXAMPLES: _BATCH_OF_STRINGS}, None),
    EVALUATE: ({EXAMPLES: _BATCH_OF_STRINGS},
               {RATING: tf.TensorSpec([None], tf.float32),
                BIAS_BASELINE_RATING: tf.TensorSpec([None], tf.float32)}),
    PREDICT_RATING: ({features.USER_ID: _BATCH_OF_STRINGS,
                      features.MOVIE_TITLE: _BATCH_OF_STRINGS},
                     {RATING: tf.TensorSpec([None], tf.float32)}),
    RANK: ({features.USER_ID: tf.TensorSpec([], tf.string),
            MOVIE_TITLES: _BATCH_OF_STRINGS},
           _RANKING),
    TOP_K: ({features.USER_ID: tf.TensorSpec([], tf.string),
             K: tf.TensorSpec([], tf.int32)},
            _RANKING),
}


def _input_signature(name):
    """The tf.function input_signature of a signature, its specs named after their keys."""
    inputs, _ = CONTRACT[name]
    return [tf.TensorSpec(spec.shape, spec.dtype, name=key) for key, spec in inputs.items()]


def _as_column(values):
    """tf.Transform expects dense raw features as [batch, 1]."""
    return tf.reshape(values, [-1, 1])


def _checked_user_id(user_id):
    """user_id, once it is known not to be empty.

    An empty id would silently rank for the out-of-vocabulary user; it is always a caller's
    mistake, so it fails instead. The dependency makes the check run before any use.
    """
    check = tf.debugging.Assert(tf.strings.length(tf.strings.strip(user_id)) > 0,
                                ['user_id is empty: give the id of the user to rank for'])
    with tf.control_dependencies([check]):
        return tf.identity(user_id)


def build(model, tf_transform_output):
    """Returns the signatures dict for `model.save`; `model` must hold `tft_layer`,
    `movie_catalog` (catalog.MovieCatalog), `catalog_movie_terms` (model.CatalogMovieTerms
    of that catalog) and `bias_baseline`."""
    raw_spec = tf_transform_output.raw_feature_spec()
    raw_spec.pop(features.LABEL)
    num_users = tf_transform_output.vocabulary_size_by_name(
        features.VOCABULARY_OF[features.USER_INDEX])
    # Movie index i is the i-th movie of the catalog, so the whole catalog is scored in index
    # order, and titles resolve by a table lookup, without running the transform.
    catalog = model.movie_catalog
    num_movies = catalog.size

    def user_indices(user_id):
        """The vocabulary index of each user; the transform sees only the user ids."""
        return model.tft_layer({features.USER_ID: _as_column(user_id)})[features.USER_INDEX]

    def ranking(movie_titles, scores, movie_index, user):
        return {MOVIE_TITLES: movie_titles, MOVIE_IDS: catalog.id_of(movie_index),
                SCORES: scores, KNOWN_TITLES: movie_index < num_movies,
                KNOWN_USER: user < num_users}

    # Four signatures rate (user, movie) pairs: tracing the model once for all of them, rather
    # than once in each, saves the export seconds; each signature calls this one graph.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)] * 2)
    def served_ratings(user_index, movie_index):
        return model({features.USER_INDEX: user_index, features.MOVIE_INDEX: movie_index})

    def rated(examples):
        transformed = model.tft_layer(tf.io.parse_example(examples, raw_spec))
        return transformed, served_ratings(transformed[features.USER_INDEX],
                                           transformed[features.MOVIE_INDEX])

    @tf.function(input_signature=_input_signature(SERVING_DEFAULT))
    def serving_default(examples):
        _, ratings = rated(examples)
        return {RATING: ratings}

    @tf.function(input_signature=_input_signature(TRANSFORM_FEATURES))
    def transform_features(examples):
        return model.tft_layer(tf.io.parse_example(examples, raw_spec))

    @tf.function(input_signature=_input_signature(EVALUATE))
    def evaluate(examples):
        transformed, ratings = rated(examples)
        return {RATING: ratings, BIAS_BASELINE_RATING: model.bias_baseline(
            transformed[features.USER_INDEX], transformed[features.MOVIE_INDEX])}

    @tf.function(input_signature=_input_signature(PREDICT_RATING))
    def predict_rating(user_id, movie_title):
        return {RATING: served_ratings(user_indices(user_id), catalog.index_of(movie_title))}

    @tf.function(input_signature=_input_signature(RANK))
    def rank(user_id, movie_titles):
        user_id = _checked_user_id(user_id)
        user = user_indices(user_id)[0]
        movie_index = catalog.index_of(movie_titles)
        scores = served_ratings(tf.fill(tf.shape(movie_index), user), movie_index)
        # Stable, so that titles with equal scores keep the caller's order.
        order = tf.argsort(scores, direction='DESCENDING', stable=True)
        return ranking(tf.gather(movie_titles, order), tf.gather(scores, order),
                       tf.gather(movie_index, order), user)

    @tf.function(input_signature=_input_signature(TOP_K))
    def top_k(user_id, k):
        user_id = _checked_user_id(user_id)
        with tf.control_dependencies([tf.debugging.assert_positive(
                k, message='k must be at least 1')]):
            k = tf.identity(k)
        user_index = user_indices(user_id)
        # Only the user's side is computed per request; the movies' is in the SavedModel.
        scores = model.rate_catalog(user_index, model.catalog_movie_terms.terms)
        best = tf.math.top_k(scores, k=tf.minimum(k, num_movies))
        best_index = tf.cast(best.indices, tf.int64)
        return ranking(catalog.title_of(best_index), best.values, best_index, user_index[0])

    return {
        SERVING_DEFAULT: serving_default,
        TRANSFORM_FEATURES: transform_features,
        EVALUATE: evaluate,
        PREDICT_RATING: predict_rating,
        RANK: rank,
        TOP_K: top_k,
    }
