"""Seconds of the Trainer's run_fn, replayed on a finished local run's own inputs.

    python benchmarks/trainer_speed.py --output-dir output
    python benchmarks/trainer_speed.py --output-dir output --checkout OLD --checkout NEW

Reads the last run's examples, Transform graph and Trainer settings from its metadata, then
calls run_fn with them in a fresh process per round (as each Trainer run is), timing the
call alone: imports excluded, export included, written to a temporary dir. On small data
this is the Trainer's fixed cost: tracing, building tables, saving the SavedModel. Also
prints what an epoch costs: the median seconds of the first fit's epochs after its first
(which traces the train step), from the history the Trainer writes.

Given several --checkout, the rounds take them in turns, each checkout's code on the same
inputs, so that a shared machine's load falls on each alike. Prints each round's seconds,
then one JSON line per checkout with the medians.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import in_turns


def replay(output_dir: str) -> dict:
    """Runs run_fn once on the run's inputs; returns its seconds (run_fn_s) and the median
    seconds of an epoch after the first (epoch_s; None from code that did not time its
    epochs)."""
    import trainer_inputs
    from models import artifacts
    from models.ranking import trainer

    with tempfile.TemporaryDirectory() as work:
        fn_args = trainer_inputs.of_last_run(output_dir, work)
        start = time.perf_counter()
        trainer.run_fn(fn_args)
        seconds = time.perf_counter() - start
        # The file itself, not runs.results: that module is the measured checkout's, and an
        # older one may not read epoch seconds. The median is the run report's rule
        # (reporting.context.Training.seconds_per_epoch).
        with open(os.path.join(fn_args.model_run_dir, artifacts.HISTORY_FILE)) as f:
            epochs = json.load(f).get('epoch_seconds', [])[1:]
    return {'run_fn_s': seconds, 'epoch_s': statistics.median(epochs) if epochs else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--output-dir', required=True, help="A finished local run's dir.")
    in_turns.add_arguments(parser)
    args = parser.parse_args(argv)
    output_dir = os.path.abspath(args.output_dir)
    if args.once:
        print(json.dumps(replay(output_dir)))
        return 0

    def show(checkout, line):
        print(f'{checkout}: {line}', flush=True)

    lines = in_turns.run(__file__, ['--output-dir', output_dir], args, show)
    for checkout, rounds in lines.items():
        rounds = [json.loads(line) for line in rounds]
        times = [r['run_fn_s'] for r in rounds]
        epochs = [r['epoch_s'] for r in rounds if r['epoch_s'] is not None]
        print(json.dumps({'checkout': checkout, 'run_fn_s': times,
                          'median_s': statistics.median(times), 'epoch_s': epochs,
                          'median_epoch_s': statistics.median(epochs) if epochs else None}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
