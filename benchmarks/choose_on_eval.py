"""Eval RMSE of the Trainer's fit with some settings changed, on a finished local run's own
train and eval splits: how the choices in pipeline/configs.py are made.

    python benchmarks/choose_on_eval.py --output-dir output \\
        --setting '{}' --setting '{"biased_mf_penalties": []}' --seeds 42,43,44

Each --setting is a JSON object of hyperparameters that replace the run's own (its Trainer's,
as recorded; a knob that the run's code did not have yet takes pipeline/configs.py's
value, and one that this code no longer has is dropped; biased_mf_members and biased_mf_l2
become the biased_mf_penalties they meant). Each is fitted as the Trainer fits
(on train, early-stopped on eval, the weights averaged over the epochs around the best and
the members blended if either does better on eval), without the refit on train + eval,
which would not change the eval RMSE that the choice is made on. The test split is never
read. Prints a JSON line per fit, then one per setting with its mean.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--output-dir', required=True, help="A finished local run's dir.")
    parser.add_argument('--setting', action='append', type=json.loads, default=None,
                        help='JSON hyperparameters to change (repeatable; default: none).')
    parser.add_argument('--seeds', default='42', help='Comma-separated seeds.')
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(',')]

    import tensorflow_transform as tft

    import trainer_inputs
    from models import features, schema
    from models.ranking import trainer
    from models.ranking.hyperparameters import Hyperparameters
    from pipeline import configs

    with tempfile.TemporaryDirectory() as work:
        fn_args = trainer_inputs.of_last_run(os.path.abspath(args.output_dir), work)
        transform_output = tft.TFTransformOutput(fn_args.transform_output)
        scale = schema.rating_scale(transform_output.raw_metadata.schema,
                                    where=fn_args.transform_output)
        train_split = trainer.read_split(fn_args.train_files, fn_args.data_accessor,
                                         transform_output)
        eval_split = trainer.read_split(fn_args.eval_files, fn_args.data_accessor,
                                        transform_output, trainer.EVAL_COLUMNS)
        sizes = trainer.vocabulary_sizes(transform_output)
        recorded = fn_args.custom_config['hyperparameters']
        if 'biased_mf_members' in recorded:  # older code's knobs: members, all per row
            recorded['biased_mf_penalties'] = (
                ((recorded.pop('biased_mf_l2'), 'row'),) * recorded.pop('biased_mf_members'))
        current = configs.HYPERPARAMETERS[recorded['architecture']]
        recorded = dict(current, **{knob: value for knob, value in recorded.items()
                                    if knob in current})
        means = []
        for setting in args.setting or [{}]:
            rmses = []
            for seed in seeds:
                config = dict(recorded, **setting, seed=seed, refit_on_eval=False)
                start = time.perf_counter()
                _, history = trainer.train(
                    Hyperparameters.from_config(config), dict(train_split), eval_split, sizes,
                    scale, log_dir=os.path.join(work, 'logs'))
                rmses.append(history['eval_rmse'])
                print(json.dumps({
                    'setting': setting, 'seed': seed, 'eval_rmse': history['eval_rmse'],
                    'epochs': len(history['epochs']['val_rmse']),
                    'best_epoch': trainer.best_epochs(history['epochs']),
                    'averaged_epochs': history.get('averaged_epochs'),
                    'blend': history.get('blend'),
                    'seconds': round(time.perf_counter() - start, 1),
                    'train_examples': len(train_split[features.LABEL])}), flush=True)
            means.append({'setting': setting, 'seeds': seeds, 'eval_rmse': rmses,
                          'mean_eval_rmse': statistics.mean(rmses)})
        for mean in means:
            print(json.dumps(mean))
    return 0


if __name__ == '__main__':
    sys.exit(main())
