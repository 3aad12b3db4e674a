"""Feature names and types of the MovieLens examples: the one place they are defined.

The raw names mirror TFDS `movielens/100k-ratings`, so that a user who knows the tutorial
recognises them. Everything else (ExampleGen, schema, Transform, model, serving) imports
them from here.
"""

# Raw features, as the MovieLens ExampleGen writes them into tf.Examples.
USER_ID = 'user_id'
MOVIE_ID = 'movie_id'
MOVIE_TITLE = 'movie_title'
MOVIE_GENRES = 'movie_genres'
USER_GENDER = 'user_gender'
BUCKETIZED_USER_AGE = 'bucketized_user_age'
RAW_USER_AGE = 'raw_user_age'
USER_OCCUPATION_TEXT = 'user_occupation_text'
USER_ZIP_CODE = 'user_zip_code'
USER_RATING = 'user_rating'
TIMESTAMP = 'timestamp'

MOVIE_TAGS = 'movie_tags'  # the tags users applied most often to the movie, lowercased
# At most this many: a movie's top tags describe it; its long tail of one-off tags is noise.
MOVIE_TAGS_LIMIT = 5

LABEL = USER_RATING

# What every release gives each rating.
RATING_FEATURES = (USER_ID, MOVIE_ID, MOVIE_TITLE, MOVIE_GENRES, USER_RATING, TIMESTAMP)
# What only the releases with a users file (100K, 1M) add; the others have no user features
# at all. RAW_USER_AGE is in 100K alone: 1M records only the age bucket.
USER_FEATURES = (USER_GENDER, BUCKETIZED_USER_AGE, RAW_USER_AGE, USER_OCCUPATION_TEXT,
                 USER_ZIP_CODE)
# MOVIE_TAGS is in the releases with a tags file (10M and the CSV family), on the movies
# that have tags.

# tf.Example value kind of each raw feature. MOVIE_GENRES and MOVIE_TAGS are multi-valued.
STRING_FEATURES = (USER_ID, MOVIE_ID, MOVIE_TITLE, USER_GENDER,
                   USER_OCCUPATION_TEXT, USER_ZIP_CODE)
STRING_LIST_FEATURES = (MOVIE_GENRES, MOVIE_TAGS)
INT_FEATURES = (BUCKETIZED_USER_AGE, RAW_USER_AGE, TIMESTAMP)
FLOAT_FEATURES = (USER_RATING,)

# The age groups of MovieLens 1M ("1": under 18, "18": 18-24, ..., "56": 56+). The 100K
# files give the raw age, which is bucketed onto these lower bounds as TFDS does.
AGE_BUCKETS = (1, 18, 25, 35, 45, 50, 56)

# Genre names in the GroupLens order (u.genre): the 100K files flag them in this order. The
# other releases name them; 1M spells "Children's", normalised to "Children". A movie without
# a genre has 'unknown', as in 100K: the later releases' "(no genres listed)" becomes it too,
# so that every movie of every release has at least one genre.
GENRES = ('unknown', 'Action', 'Adventure', 'Animation', 'Children', 'Comedy',
          'Crime', 'Documentary', 'Drama', 'Fantasy', 'Film-Noir', 'Horror',
          'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western')
UNKNOWN_GENRE = GENRES[0]
# The genres that the releases after 1M add (10M and the CSV family).
LATER_GENRES = ('IMAX',)
ALL_GENRES = GENRES + LATER_GENRES

# The three output splits of the ExampleGen.
TRAIN_SPLIT = 'train'
EVAL_SPLIT = 'eval'
TEST_SPLIT = 'test'
SPLITS = (TRAIN_SPLIT, EVAL_SPLIT, TEST_SPLIT)

# Transformed features: what tf.Transform hands the model. Every categorical feature is an
# integer index into a vocabulary that tf.Transform builds from the train split; the
# vocabulary file carries the raw feature's name, and index len(vocabulary) is the
# out-of-vocabulary bucket.
USER_INDEX = 'user_index'
MOVIE_INDEX = 'movie_index'
USER_GENDER_INDEX = 'user_gender_index'
USER_AGE_INDEX = 'user_age_index'
USER_OCCUPATION_INDEX = 'user_occupation_index'
USER_ZIP_PREFIX_INDEX = 'user_zip_prefix_index'
MOVIE_GENRE_INDICES = 'movie_genre_indices'  # sparse: a movie has several genres
MOVIE_YEAR = 'movie_year'  # release year from the title, z-scored; 0 when unknown

USER_ZIP_PREFIX = 'user_zip_prefix'  # vocabulary name of the zip code's leading digits

# Each index feature and the vocabulary it indexes: preprocessing.py builds them, the Trainer
# sizes its embedding tables by them. A movie is keyed by its id: several movies can share a
# title; the title is only how people name one (models/ranking/catalog.py).
VOCABULARY_OF = {
    USER_INDEX: USER_ID,
    MOVIE_INDEX: MOVIE_ID,
    USER_GENDER_INDEX: USER_GENDER,
    USER_AGE_INDEX: BUCKETIZED_USER_AGE,
    USER_OCCUPATION_INDEX: USER_OCCUPATION_TEXT,
    USER_ZIP_PREFIX_INDEX: USER_ZIP_PREFIX,
    MOVIE_GENRE_INDICES: MOVIE_GENRES,
}

# For evaluation slices only (the model does not read them): where a user ranks by number
# of training ratings (the vocabulary is ordered by frequency), likewise a movie.
USER_ACTIVITY_BUCKET = 'user_activity_bucket'
MOVIE_POPULARITY_BUCKET = 'movie_popularity_bucket'
TRANSFORMED_SLICES = (USER_ACTIVITY_BUCKET, MOVIE_POPULARITY_BUCKET)
# Upper bounds of the buckets, as fractions of the vocabulary, most frequent first.
FREQUENCY_RANK_BUCKETS = ((0.1, b'top 10%'), (0.5, b'10-50%'), (1.0, b'bottom 50%'))
UNSEEN_BUCKET = b'unseen in training'
NUM_OOV_BUCKETS = 1

# What a user and a movie are described by, besides their own id. The model learns these
# per user and per movie at training time, so that serving needs only the two ids. Each user
# side feature comes from one raw feature, which only some releases have (MovieLens 10M and
# later record nothing about users): preprocessing_fn makes the side features whose raw
# feature is in its inputs, and the Trainer uses those it made.
USER_SIDE_FEATURE_SOURCES = {
    USER_GENDER_INDEX: USER_GENDER,
    USER_AGE_INDEX: BUCKETIZED_USER_AGE,
    USER_OCCUPATION_INDEX: USER_OCCUPATION_TEXT,
    USER_ZIP_PREFIX_INDEX: USER_ZIP_CODE,
}
USER_SIDE_FEATURES = tuple(USER_SIDE_FEATURE_SOURCES)
MOVIE_SIDE_FEATURES = (MOVIE_GENRE_INDICES, MOVIE_YEAR)
