"""Seconds the Trainer spends finding each movie's item-item neighbours, on ratings drawn
with the synthetic generator's long tails at MovieLens 25M's shape.

    python benchmarks/neighbours_speed.py --ratings 4500000
    python benchmarks/neighbours_speed.py --ratings 4500000 --ratings-per-user 1000000000

The second leaves every user's ratings in (no cap). Only the ids and residuals are drawn,
not files, so no pipeline runs: this is models/ranking/trainer.movie_neighbours alone, once
per fit (twice with the refit on train + eval). Prints a JSON line.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datasets import synthetic  # noqa: E402
from models.ranking import trainer  # noqa: E402

# MovieLens 25M.
USERS, MOVIES = 162_541, 62_423


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--ratings', type=int, default=4_500_000)
    parser.add_argument('--ratings-per-user', type=int,
                        default=trainer.NEIGHBOUR_RATINGS_PER_USER)
    parser.add_argument('--neighbours', type=int, default=30)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    # The generator's popularity and activity tails (datasets/synthetic.py), drawn
    # independently: a few duplicate pairs do not change the work.
    movie_weights = synthetic._long_tail(MOVIES, *synthetic._MOVIE_POPULARITY, rng)
    user_weights = synthetic._long_tail(USERS, *synthetic._USER_ACTIVITY, rng)
    user_index = rng.choice(USERS, args.ratings, p=user_weights)
    movie_index = rng.choice(MOVIES, args.ratings, p=movie_weights)
    residuals = trainer.baseline_residuals(user_index, movie_index,
                                           rng.integers(1, 11, args.ratings) / 2.0, USERS,
                                           MOVIES)
    started = time.monotonic()
    trainer.movie_neighbours(user_index, movie_index, residuals, USERS, MOVIES,
                             args.neighbours, ratings_per_user=args.ratings_per_user)
    print(json.dumps({'ratings': args.ratings, 'ratings_per_user': args.ratings_per_user,
                      'heaviest_user': int(np.bincount(user_index).max()),
                      'seconds': round(time.monotonic() - started, 1)}))


if __name__ == '__main__':
    main()
