"""Builds the tf.Examples that the MovieLens ExampleGen writes, one per rating.

Movie and user features are serialised once per movie and per user and joined to each
rating's own features: the same few thousand movies and users recur in millions of ratings.
"""
import functools
import struct
from typing import List, Optional, Sequence, Tuple

import numpy as np
from tensorflow.core.example import feature_pb2

from components.movielens.rows import JoinedColumns
from models import features

# Protobuf wire format: a field starts with (field number << 3 | wire type); wire type 2 is
# length-delimited (a varint length, then the bytes). Example.features is field 1.
# Features.feature is map<string, Feature> (field 1), each entry the key (field 1) and the
# Feature (field 2). A Feature holds a BytesList (field 1), FloatList (2) or Int64List (3),
# whose values are its field 1 (numbers packed).
_FIELD_1, _FIELD_2, _FIELD_3 = (bytes([number << 3 | 2]) for number in (1, 2, 3))


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
    return movie.SerializeToString(deterministic=True)


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
    return user.SerializeToString(deterministic=True)


def rating_example(user_id: str, movie_id: str, rating: float, timestamp: int,
                   movie: bytes, user: bytes) -> bytes:
    """The serialised tf.Example of one rating, joined with its movie's and user's
    serialised features (b'' for a release without user features).

    The rating's own four features are written in the protobuf wire format directly: one
    rating per example, millions of examples, and building them as protos cost the
    ExampleGen more than all the rest of its Python per rating.
    """
    return _example(movie + _id_entry(_MOVIE_ID_KEY, movie_id),
                    user + _id_entry(_USER_ID_KEY, user_id), _rating_entry(rating),
                    _entry(_TIMESTAMP_KEY, _int64_feature(timestamp)))


def rating_examples(columns: JoinedColumns) -> List[bytes]:
    """rating_example() of each rating of the columns, the same bytes, made in bulk: each
    movie's, user's and rating value's part once, the timestamps' varints all at once."""
    movies = [features + _id_entry(_MOVIE_ID_KEY, movie_id)
              for movie_id, features in zip(columns.movie_ids, columns.movie_features)]
    users = [features + _id_entry(_USER_ID_KEY, user_id)
             for user_id, features in zip(columns.user_ids, columns.user_features)]
    values, rating_of_row = np.unique(columns.ratings, return_inverse=True)
    ratings = [_rating_entry(value) for value in values.tolist()]
    varints, lengths = _varints(columns.timestamps)
    features_of_rating = [
        b''.join((movies[movie], users[user], ratings[rating], _TIMESTAMP_HEADS[length],
                  varints[start:start + length]))
        for movie, user, rating, length, start in zip(
            columns.movie_of_rating.tolist(), columns.user_of_rating.tolist(),
            rating_of_row.tolist(), lengths.tolist(),
            range(0, len(lengths) * _MOST_VARINT_BYTES, _MOST_VARINT_BYTES))]
    # _example()'s framing, written out: a call fewer for each of millions of ratings.
    return [_FIELD_1 + _varint(len(features)) + features for features in features_of_rating]


def _example(*entries: bytes) -> bytes:
    """A serialised Example of the entries: a serialised Features is a run of map entries,
    so serialised Features laid end to end are one valid Features with all their
    entries."""
    return _delimited(_FIELD_1, b''.join(entries))


# The same ids and ratings recur in millions of examples: their entries are made once.
@functools.lru_cache(maxsize=1 << 18)
def _id_entry(key: bytes, value: str) -> bytes:
    return _entry(key, _delimited(_FIELD_1, _delimited(_FIELD_1, value.encode('utf-8'))))


@functools.lru_cache(maxsize=64)
def _rating_entry(rating: float) -> bytes:
    return _entry(_USER_RATING_KEY, _delimited(_FIELD_2, _delimited(
        _FIELD_1, struct.pack('<f', rating))))


def _delimited(field: bytes, payload: bytes) -> bytes:
    return field + _varint(len(payload)) + payload


def _entry(key: bytes, feature: bytes) -> bytes:
    """A map entry of Features.feature, from its encoded key and its serialised Feature."""
    return _delimited(_FIELD_1, key + _delimited(_FIELD_2, feature))


def _int64_feature(value: int) -> bytes:
    # A negative int64 is its two's complement as a 64-bit varint.
    return _delimited(_FIELD_3,
                      _delimited(_FIELD_1, _varint(value & 0xFFFF_FFFF_FFFF_FFFF)))


def _varint(value: int) -> bytes:
    """A non-negative int in the protobuf wire format: 7 bits a byte, low bits first."""
    if value < len(_SMALL_VARINTS):
        return _SMALL_VARINTS[value]
    encoded = bytearray()
    while value > 0x7f:
        encoded.append(value & 0x7f | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)


def _varints(values: np.ndarray) -> Tuple[bytes, np.ndarray]:
    """_varint() of each of an array of non-negative ints, at once: the varints, each
    padded to _MOST_VARINT_BYTES bytes, and their lengths."""
    values = values.astype(np.uint64)
    shifts = np.arange(_MOST_VARINT_BYTES, dtype=np.uint64) * np.uint64(7)
    groups = (values[:, None] >> shifts) & np.uint64(0x7f)
    # A varint is as long as its highest non-zero group of 7 bits (one byte for 0).
    lengths = _MOST_VARINT_BYTES - np.argmax(groups[:, ::-1] != 0, axis=1)
    lengths[values == 0] = 1
    # Every byte but a varint's last has its high bit set.
    more = np.arange(_MOST_VARINT_BYTES) < (lengths - 1)[:, None]
    return (groups | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8).tobytes(), lengths


# Most varints are short: made once.
_SMALL_VARINTS = [bytes((value,)) for value in range(0x80)]
_SMALL_VARINTS += [bytes((value & 0x7f | 0x80, value >> 7)) for value in range(0x80, 1 << 14)]
_MOST_VARINT_BYTES = 10  # of a 64-bit value

_USER_ID_KEY, _MOVIE_ID_KEY, _USER_RATING_KEY, _TIMESTAMP_KEY = (
    _delimited(_FIELD_1, name.encode('utf-8'))
    for name in (features.USER_ID, features.MOVIE_ID, features.USER_RATING, features.TIMESTAMP))

# A timestamp's entry is a head that depends only on its varint's length, then the varint:
# the head of each length, by length.
_TIMESTAMP_HEADS = {
    length: _entry(_TIMESTAMP_KEY, _int64_feature(value))[:-length]
    for length, value in ((1, 0), *((length, 1 << 7 * (length - 1))
                                    for length in range(2, _MOST_VARINT_BYTES + 1)))}
