"""Every setting of the pipeline, in one place. local_runner.py and kubeflow_runner.py
override some of them with flags; nothing else hard-codes a number."""
import os

from components.movielens import contract
from models import features

PIPELINE_NAME = 'movielens-ranking'

# Data. MOVIELENS_DIR lets a machine that keeps the GroupLens files somewhere point at them.
DATA_DIR_ENV = 'MOVIELENS_DIR'
DEFAULT_DATA_DIR = os.environ.get(DATA_DIR_ENV)
DEFAULT_SOURCE = contract.GROUPLENS
DEFAULT_TFDS_NAME = contract.TFDS_NAMES[0]
SPLIT_BUCKETS = (72, 8, 20)  # train / eval / test percentages
# By a hash of (user, movie); --split time cuts at timestamp quantiles, so test is the future.
DEFAULT_SPLIT = contract.SPLIT_HASH
DEFAULT_SYNTHETIC_RATINGS = 100_000
DEFAULT_SYNTHETIC_FORMAT = contract.FORMAT_100K

DEFAULT_OUTPUT_DIR = 'output'
# Under the output dir locally, under the pipeline root on Kubeflow: the pushed models.
SERVING_MODEL_SUBDIR = 'serving_model'
DEFAULT_SEED = 42

# Trainer. Dotted paths, not module_file: the code is installed in the image, and a
# module_file would be packaged and uploaded to the pipeline root at compile time.
PREPROCESSING_FN = 'models.preprocessing.preprocessing_fn'
RUN_FN = 'models.ranking.trainer.run_fn'

# The regularisations of the user + item bias baseline that the gate holds every model to;
# the Trainer keeps the one with the lowest eval RMSE (models/ranking/bias_baseline.py).
BIAS_BASELINE_REGULARISATION = (1.0, 3.0, 10.0, 25.0, 50.0)

# The tutorial's model, kept so that ours can be compared with it (--architecture notebook).
NOTEBOOK_HYPERPARAMETERS = dict(
    architecture='notebook', embedding_dim=32, hidden_units=(256, 64), optimizer='adagrad',
    learning_rate=0.1, batch_size=8192, larger_batches=(), epochs=3, early_stopping_patience=0,
    averaged_epochs_around_best=0,
    embedding_decay_per_epoch=0.0, implicit_feedback_limit=0, explicit_feedback=False,
    neighbours=0, dropout=0.0, ensemble_size=1, biased_mf_penalties=(),
    blend_on_eval=False, bias_baseline_regularisation=BIAS_BASELINE_REGULARISATION,
    refit_on_eval=False,
    seed=DEFAULT_SEED)

# A train split of 2M examples or more (ml-10m's is 7.2M) trains in batches of 8,192 rather
# than 4,096, its epochs at 10M 1.17x as fast. Eval RMSE, 4,096 against 8,192: 0.8074 and
# 0.8052 on 10M synthetic ratings (3 epochs, seed 42), 0.8398 and 0.8363 on 1M (seed 42),
# 0.8947 and 0.8904 on a generated 100K CSV-family set (seeds 42, 43), but 0.8973 and
# 0.9004 on ml-100k (seeds 42-44). The generated sets favour the larger batch at every size,
# the one real release here the smaller; the 2M bound is a judgement, not a measured
# crossover: it keeps every release up to 1M ratings at the batch chosen on ml-100k.
# docs/performance.md has the runs.
LARGER_BATCHES = ((2_000_000, 8192),)

# Our model, chosen on the eval split (see README, "Model quality"): three hybrid members
# and two of biased MF trained together and blended, stopping early on eval, usually after
# 8-12 epochs, then refitted on train + eval for that many. Eval RMSE on ml-100k's hash
# split, seed 42: 0.9063 with neither the explicit SVD++ half nor the item-item term,
# 0.9037 with the first, 0.9011 with both (30 neighbours); learnt per-pair neighbour
# weights instead: 0.9048. Embedding decay 40.5 per epoch (2.25 per step at ml-100k's 18
# steps) rather than 27 (1.5): eval RMSE 0.8998 against 0.9007 on ml-100k (mean of seeds
# 42-44) and 0.8995 against 0.9066 on a generated CSV-family set. Given per epoch rather
# than per step, the same decay keeps 1M and 10M synthetic ratings from underfitting: eval
# RMSE 0.8475 against 0.8875 at 1M (docs/performance.md). Serving the mean of the weights
# after the epochs best - 1, best and best + 1 rather than the best epoch's alone (if it
# does better on eval, which it did in every run below): eval RMSE 0.8972 against 0.9001 on
# ml-100k (seeds 42-44), 0.8947 against 0.8988 on the CSV-family set (seeds 42, 43) and
# 0.8387 against 0.8454 on a set of 1M synthetic ratings (seed 42); the refit then trains
# one epoch more. A smaller or more dropped-out MLP did better on the first two, worse at
# 1M. One member of plain biased MF beside the three hybrid ones (model.BiasedMF), its
# rows' L2 penalty 10: eval RMSE 0.8968 against 0.8972 on ml-100k (mean of seeds 42-44),
# 0.8870 against 0.8947 on the CSV-family set (seeds 42, 43) and 0.8360 against 0.8398 at
# 1M (seed 42); a penalty of 5 or 15 did better on one of the three and worse on the
# others, two such members better on the CSV-family set and worse on ml-100k. The kinds of
# member blended as least squares fits them on eval (trainer.fit_blend) rather than
# averaged: eval RMSE 0.8961 against 0.8968 on ml-100k (seeds 42-44), 0.8839 against 0.8870
# on the CSV-family set (seeds 42, 43), 0.8320 against 0.8360 at 1M (seed 42). Then a
# second biased MF member, penalised per rating (0.05, as SGD-trained MF is) rather than
# per row: 0.8963 against 0.8961, 0.8831 against 0.8839, 0.8258 against 0.8320; the blend
# weighs it 0.73 at 1M and 0.05-0.10 on the CSV-family set. Instead, two members per rating
# as one kind (0.05 and 0.15; 0.03 and 0.1): 0.8970 and 0.8973 on ml-100k against 0.8965
# (seeds 42, 43), 0.8868 and 0.8891 on the CSV set against 0.8831, 0.8283 for the second at
# 1M; two per row: 0.8959, 0.8826, 0.8309; one per rating alone (0.05): 0.8274 at 1M.
HYBRID_HYPERPARAMETERS = dict(
    architecture='hybrid', embedding_dim=32, hidden_units=(128,), optimizer='adam',
    learning_rate=0.006, batch_size=4096, larger_batches=LARGER_BATCHES, epochs=40,
    early_stopping_patience=3,
    averaged_epochs_around_best=1,
    embedding_decay_per_epoch=40.5, implicit_feedback_limit=128, explicit_feedback=True,
    neighbours=30, dropout=0.2, ensemble_size=3,
    biased_mf_penalties=((10.0, 'row'), (0.05, 'rating')),
    blend_on_eval=True, bias_baseline_regularisation=BIAS_BASELINE_REGULARISATION,
    refit_on_eval=True,
    seed=DEFAULT_SEED)

HYPERPARAMETERS = {'notebook': NOTEBOOK_HYPERPARAMETERS, 'hybrid': HYBRID_HYPERPARAMETERS}
DEFAULT_ARCHITECTURE = 'hybrid'

# Evaluator: a model is blessed only when it beats the user + item bias baseline fitted on
# the same train split (or, given --rmse-threshold, when its test RMSE is at most that bound)
# and beats the last blessed model, each by at least this much: a model that is not better
# never replaces the served one (pipeline.eval_config).
RMSE_MIN_IMPROVEMENT = 1e-4
EVAL_BATCH_SIZE = 4096
# Raw features, and two that Transform derives for this (models/preprocessing.py). A release
# without user demographics has no user_gender or bucketized_user_age: TFMA then makes no
# slice of them, and the report shows the slices there are.
SLICES = (features.USER_GENDER, features.BUCKETIZED_USER_AGE, *features.TRANSFORMED_SLICES)

# Beam's local runner, named: the default DirectRunner first tries Beam's Prism runner, which
# it downloads from GitHub at run time, and falls back to FnApiRunner when that fails.
# in_memory keeps one process: at MovieLens sizes, starting worker processes costs more than
# it saves. A later --runner (e.g. DataflowRunner) replaces the runner; it ignores the others.
# StatisticsGen, Transform and the Evaluator read tf.Example files in batches of 8,192
# records (components/batched_reads.py). --tfxio_use_byte_size_batching is tfx_bsl's flag,
# not Beam's (TFX's Beam executors read absl flags from these arguments): any other reader
# then gives batches of 20 MiB or 8,192 examples, where tfx_bsl's default lets Beam tune
# batches of at most 1,000.
BEAM_PIPELINE_ARGS = ('--runner=FnApiRunner', '--direct_running_mode=in_memory',
                      '--direct_num_workers=1', '--tfxio_use_byte_size_batching')
