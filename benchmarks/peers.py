"""The classical peers of benchmarks/rmse.py: cornac's biased MF and surprise's item-based
KNNBaseline, fitted on the same splits as our model.

cornac 3 needs numpy 2 and TFX 1.16 needs numpy 1.26, so the two cannot share a venv: this
script runs in its own (`make peers-venv`, pinned by benchmarks/requirements.txt) and imports
nothing of the project. rmse.py writes the splits to an .npz file and reads the JSON this
prints:

    .venv-peers/bin/python benchmarks/peers.py splits.npz

The .npz holds, per split (train, eval, test), `<split>_user`, `<split>_movie` (ids as
strings) and `<split>_rating`, and `scale` = [lowest, highest rating]. Each peer's settings
are chosen on eval from a small grid (the test split is only scored), then the chosen one is
scored twice on test: fitted on train (the bar our model must clear) and refitted on
train + eval (as our served model is).
"""
import json
import sys
import time

import numpy as np

SPLITS = ('train', 'eval', 'test')
# cornac's biased MF: k=50 factors, SGD; the number of epochs and the regularisation are
# chosen on eval.
MF_GRID = [dict(max_iter=iters, lambda_reg=reg) for iters in (25, 50, 100)
           for reg in (0.02, 0.05)]
# surprise's KNNBaseline, item-based with the shrunk Pearson correlation of the baseline
# residuals (its strongest neighbourhood setting); k neighbours chosen on eval.
KNN_GRID = [dict(k=k) for k in (20, 40, 80)]


def _rmse(predictions, ratings):
    return float(np.sqrt(np.mean((np.asarray(predictions) - ratings) ** 2)))


def cornac_mf(train, evaluated, scale, seed, max_iter, lambda_reg):
    """Test-like RMSE of cornac's MF with biases, fitted on `train`, on `evaluated`."""
    import cornac
    train_set = cornac.data.Dataset.from_uir(list(zip(*train)), seed=seed)
    model = cornac.models.MF(k=50, max_iter=max_iter, learning_rate=0.01,
                             lambda_reg=lambda_reg, use_bias=True, early_stop=False,
                             verbose=False, seed=seed)
    model.fit(train_set)
    user_map, item_map = train_set.uid_map, train_set.iid_map
    predictions = []
    for user, movie in zip(evaluated[0], evaluated[1]):
        u, i = user_map.get(user), item_map.get(movie)
        if u is None or i is None:
            # Unknown user or movie: the model's own fallback, the mean plus the known bias.
            known = model.global_mean
            if u is not None:
                known += model.u_biases[u]
            if i is not None:
                known += model.i_biases[i]
            predictions.append(known)
        else:
            predictions.append(model.score(u, i))
    return _rmse(np.clip(predictions, *scale), evaluated[2])


def surprise_knn(train, evaluated, scale, seed, k):
    """RMSE of surprise's item-based KNNBaseline (pearson_baseline), fitted on `train`."""
    import surprise
    reader = surprise.Reader(rating_scale=tuple(scale))
    data = surprise.Dataset(reader)
    trainset = data.construct_trainset(
        [(u, i, float(r), None) for u, i, r in zip(*train)])
    np.random.seed(seed)
    model = surprise.KNNBaseline(k=k, sim_options={'name': 'pearson_baseline',
                                                   'user_based': False}, verbose=False)
    model.fit(trainset)
    predictions = [model.predict(u, i).est for u, i in zip(evaluated[0], evaluated[1])]
    return _rmse(np.clip(predictions, *scale), evaluated[2])


PEERS = {'cornac_biased_mf': (cornac_mf, MF_GRID), 'surprise_knn_baseline': (surprise_knn,
                                                                              KNN_GRID)}


def evaluate(splits, scale, seed=42):
    """Per peer: the setting chosen on eval, its eval RMSE, its test RMSE fitted on train and
    refitted on train + eval, and the seconds it all took."""
    train, eval_, test = (splits[name] for name in SPLITS)
    train_eval = tuple(np.concatenate([a, b]) for a, b in zip(train, eval_))
    result = {}
    for name, (fit, grid) in PEERS.items():
        start = time.time()
        eval_rmse = [fit(train, eval_, scale, seed, **setting) for setting in grid]
        best = grid[int(np.argmin(eval_rmse))]
        result[name] = dict(setting=best, eval_rmse=min(eval_rmse),
                            test_rmse=fit(train, test, scale, seed, **best),
                            test_rmse_refit=fit(train_eval, test, scale, seed, **best),
                            seconds=time.time() - start)
    return result


def load(path):
    with np.load(path) as data:
        splits = {name: (data[f'{name}_user'].astype(str), data[f'{name}_movie'].astype(str),
                         data[f'{name}_rating'].astype(np.float64)) for name in SPLITS}
        return splits, [float(v) for v in data['scale']]


def main(argv):
    if len(argv) != 1:
        raise SystemExit(f'usage: python {__file__} SPLITS.npz')
    splits, scale = load(argv[0])
    print(json.dumps(evaluate(splits, scale)))


if __name__ == '__main__':
    main(sys.argv[1:])
