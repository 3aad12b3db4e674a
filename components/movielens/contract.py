"""What the MovieLens ExampleGen takes and gives, by name: its sources, the TFDS configs it
reads, and the custom properties of its Examples artifact.

A leaf module, so that the runners, the run summary and the report use these names without
importing TFX or Beam.
"""

# Sources: GroupLens files (a folder or the zip GroupLens ships), or a prepared TFDS data dir.
GROUPLENS = 'grouplens'
TFDS = 'tfds'
SOURCES = (GROUPLENS, TFDS)

# The TFDS MovieLens configs that it reads; the first is the default.
TFDS_NAMES = ('movielens/100k-ratings', 'movielens/1m-ratings')

# GroupLens' own train/test splits of the 100K set, files uN.base and uN.test.
PREDEFINED_SPLITS = ('u1', 'u2', 'u3', 'u4', 'u5', 'ua', 'ub')

# Int custom property of the Examples artifact: bad rating rows that --skip-bad-rows dropped.
SKIPPED_ROWS_PROPERTY = 'skipped_rows'
