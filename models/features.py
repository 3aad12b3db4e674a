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

LABEL = USER_RATING

# tf.Example value kind of each raw feature. MOVIE_GENRES is the only multi-valued one;
# RAW_USER_AGE is absent from the 1M format, which only records the age bucket.
STRING_FEATURES = (USER_ID, MOVIE_ID, MOVIE_TITLE, USER_GENDER,
                   USER_OCCUPATION_TEXT, USER_ZIP_CODE)
STRING_LIST_FEATURES = (MOVIE_GENRES,)
INT_FEATURES = (BUCKETIZED_USER_AGE, RAW_USER_AGE, TIMESTAMP)
FLOAT_FEATURES = (USER_RATING,)
OPTIONAL_FEATURES = (RAW_USER_AGE,)
ALL_FEATURES = (STRING_FEATURES + STRING_LIST_FEATURES + INT_FEATURES +
                FLOAT_FEATURES)

MIN_RATING = 1.0
MAX_RATING = 5.0

# The age groups of MovieLens 1M ("1": under 18, "18": 18-24, ..., "56": 56+). The 100K
# files give the raw age, which is bucketed onto these lower bounds as TFDS does.
AGE_BUCKETS = (1, 18, 25, 35, 45, 50, 56)

# Genre names in the GroupLens order (u.genre); the 1M format spells them the same way
# except "Children's", which is normalised to "Children".
GENRES = ('unknown', 'Action', 'Adventure', 'Animation', 'Children', 'Comedy',
          'Crime', 'Documentary', 'Drama', 'Fantasy', 'Film-Noir', 'Horror',
          'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western')

# The three output splits of the ExampleGen.
TRAIN_SPLIT = 'train'
EVAL_SPLIT = 'eval'
TEST_SPLIT = 'test'
SPLITS = (TRAIN_SPLIT, EVAL_SPLIT, TEST_SPLIT)
