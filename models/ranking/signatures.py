"""The served model's signatures: what TF Serving, TFMA and rank.py call.

Each signature maps raw strings through the same tf.Transform graph the model was trained
on, so serving cannot drift from training.
"""
import tensorflow as tf

from models import features

RATING = 'rating'  # the output key of every rating signature


def _as_column(values):
    """tf.Transform expects dense raw features as [batch, 1]."""
    return tf.reshape(values, [-1, 1])


def build(model, tf_transform_output):
    """Returns the signatures dict for `model.save`; `model` must hold `tft_layer`."""
    raw_spec = tf_transform_output.raw_feature_spec()
    raw_spec.pop(features.LABEL)

    def indices(user_id, movie_title):
        transformed = model.tft_layer({features.USER_ID: _as_column(user_id),
                                       features.MOVIE_TITLE: _as_column(movie_title)})
        return {key: transformed[key] for key in (features.USER_INDEX, features.MOVIE_INDEX)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def serving_default(examples):
        transformed = model.tft_layer(tf.io.parse_example(examples, raw_spec))
        return {RATING: model(transformed)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def transform_features(examples):
        return model.tft_layer(tf.io.parse_example(examples, raw_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='user_id'),
                                  tf.TensorSpec([None], tf.string, name='movie_title')])
    def predict_rating(user_id, movie_title):
        return {RATING: model(indices(user_id, movie_title))}

    return {
        'serving_default': serving_default,
        'transform_features': transform_features,
        'predict_rating': predict_rating,
    }
