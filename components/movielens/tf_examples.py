"""Builds the tf.Examples that the MovieLens ExampleGen writes, one per rating.

Movie and user features are serialised once per movie and per user and joined to each
rating's own features: the same few thousand movies and users recur in millions of ratings.
"""
from typing import Optional, Sequence

from tensorflow.core.example import feature_pb2

from models import features

# The key of Example.features (field 1, length-delimited) in the protobuf wire format.
_EXAMPLE_FEATURES_KEY = bytes([1 << 3 | 2])


def _strings(*values: str) -> feature_pb2.Feature:
    return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(
        value=[value.encode('utf-8') for value in values]))


def _int(value: int) -> feature_pb2.Feature:
    return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[value]))


def movie_features(title: str, genres: Sequence[str], tags: Sequence[str] = ()) -> bytes:
    """The serialised tf.train.Features that describe a movie; MOVIE_TAGS only if it has
    tags."""
    movie = feature_pb2.Features(feature={
        features.MOVIE_TITLE: _strings(title),
        features.MOVIE_GENRES: _strings(*genres),
    })
    if tags:
        movie.feature[features.MOVIE_TAGS].CopyFrom(_strings(*tags))
    return movie.SerializeToString()


def user_features(gender: str, bucketized_age: int, occupation: str, zip_code: str,
                  raw_age: Optional[int] = None) -> bytes:
    """The serialised tf.train.Features that describe a user; raw_age is None where only
    the age bucket is known."""
    user = feature_pb2.Features(feature={
        features.USER_GENDER: _strings(gender),
        features.BUCKETIZED_USER_AGE: _int(bucketized_age),
        features.USER_OCCUPATION_TEXT: _strings(occupation),
        features.USER_ZIP_CODE: _strings(zip_code),
    })
    if raw_age is not None:
        user.feature[features.RAW_USER_AGE].CopyFrom(_int(raw_age))
    return user.SerializeToString()


def rating_example(user_id: str, movie_id: str, rating: float, timestamp: int,
                   movie: bytes, user: bytes) -> bytes:
    """The serialised tf.Example of one rating, joined with its movie's and user's
    serialised features (b'' for a release without user features)."""
    row = feature_pb2.Features()
    values = row.feature
    values[features.USER_ID].bytes_list.value.append(user_id.encode('utf-8'))
    values[features.MOVIE_ID].bytes_list.value.append(movie_id.encode('utf-8'))
    values[features.USER_RATING].float_list.value.append(rating)
    values[features.TIMESTAMP].int64_list.value.append(timestamp)
    # A serialised Features is a run of map entries, so serialised Features laid end to end
    # are one valid Features with all their entries. Joining bytes is twice as fast as
    # merging the movie and user protos into every example.
    joined = movie + user + row.SerializeToString()
    return _EXAMPLE_FEATURES_KEY + _varint(len(joined)) + joined


def _varint(value: int) -> bytes:
    """A non-negative int in the protobuf wire format: 7 bits a byte, low bits first."""
    encoded = bytearray()
    while value > 0x7f:
        encoded.append(value & 0x7f | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)
