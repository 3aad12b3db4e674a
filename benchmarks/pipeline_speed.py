"""Wall time, per-component seconds and peak memory of the local pipeline: cold, through the
cache, and up to date.

    python benchmarks/pipeline_speed.py --data-dir path/to/ml-100k
    python benchmarks/pipeline_speed.py --synthetic 1000000
    python benchmarks/pipeline_speed.py --data-dir path/to/ml-100k --against-notebook

Cold: a fresh output dir. Cached: the same run again through TFX's cache, which runs no
component (the up-to-date record removed first; this was `warm_s` before that record
existed). Up to date: the same run once more, which finds nothing changed and answers
without TFX (runs/up_to_date.py). Each run is local_runner.py in its own process, timed
from process start (imports included) to exit; peak RSS is the largest total resident
memory of its process tree, sampled every 0.2 s.
--against-notebook then times the tutorial's code as a plain script on the same files
(notebook_script.py), so that the ratio compares two runs on the same machine in the same
minutes. Prints a table, then a JSON line.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from runs import up_to_date  # noqa: E402
from runs.output_dir import OutputDir  # noqa: E402


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process] + process.children(recursive=True):
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def timed_process(script, args):
    """Runs a Python script in its own process; returns (seconds from start to exit, peak
    RSS of its process tree in MB, its output)."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, os.path.join(ROOT, script), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    process = psutil.Process(child.pid)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.2):
            try:
                peak[0] = max(peak[0], tree_rss(process))
            except psutil.NoSuchProcess:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = child.communicate()
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    if child.returncode != 0:
        sys.exit(f'{script} failed ({child.returncode}):\n{output[-3000:]}')
    return seconds, peak[0] / 2**20, output


def timed_run(args):
    """Runs local_runner.py; returns (seconds, peak RSS in MB, run_summary dict)."""
    seconds, peak_mb, _ = timed_process('local_runner.py', args)
    with open(OutputDir(output_dir_of(args)).summary) as f:
        return seconds, peak_mb, json.load(f)


def output_dir_of(run_args):
    return run_args[run_args.index('--output-dir') + 1]


def timed_rerun(args):
    """Runs local_runner.py once more with nothing changed; returns (seconds, peak RSS in
    MB), having checked that it found the output dir up to date."""
    seconds, peak_mb, output = timed_process('local_runner.py', args)
    if 'Up to date' not in output:
        sys.exit(f'The rerun did not find {output_dir_of(args)} up to date:\n{output[-3000:]}')
    return seconds, peak_mb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--data-dir', help='GroupLens folder or zip, e.g. ml-100k.')
    source.add_argument('--synthetic', type=int, metavar='N', help='N synthetic ratings.')
    parser.add_argument('--output-dir', help='Where the runs write (default: a new temp dir).')
    parser.add_argument('--runner-arg', action='append', default=[],
                        help='Extra local_runner.py argument, repeatable.')
    parser.add_argument('--against-notebook', action='store_true',
                        help="Then run the tutorial's code as a plain script on the same files "
                             '(benchmarks/notebook_script.py) and report the ratio of the cold '
                             'run to it. Needs --data-dir.')
    args = parser.parse_args(argv)
    if args.against_notebook and not args.data_dir:
        parser.error('--against-notebook needs --data-dir: the tutorial reads GroupLens files')
    output_dir = os.path.abspath(args.output_dir or tempfile.mkdtemp(prefix='speed-bench-'))
    run_args = ['--output-dir', output_dir, *args.runner_arg]
    if args.data_dir:
        run_args += ['--data-dir', args.data_dir]
    else:
        run_args += ['--source', 'synthetic', '--synthetic-ratings', str(args.synthetic),
                     # Synthetic data are noisier than MovieLens; time every stage anyway.
                     '--rmse-threshold', '10']
        # Writing the synthetic files is data preparation, not pipeline time.
        import local_runner
        from runs import local
        local.resolve_data(local_runner.parse_args(run_args), OutputDir(output_dir))

    cold_s, cold_rss, cold = timed_run(run_args)
    up_to_date.forget(OutputDir(output_dir))
    cached_s, cached_rss, cached = timed_run(run_args)
    up_to_date_s, _ = timed_rerun(run_args)
    notebook = None
    if args.against_notebook:
        notebook_s, _, output = timed_process('benchmarks/notebook_script.py',
                                              ['--data-dir', args.data_dir])
        notebook = dict(json.loads(output.strip().splitlines()[-1]), process_s=notebook_s)
    train_examples = cold['data']['split_counts']['train']
    trainer_s = cold['components']['Trainer']['seconds']
    print(f'{"component":<32} {"cold s":>8} {"cached s":>8}')
    for name, timing in cold['components'].items():
        cached_timing = cached['components'].get(name, {})
        mark = ' (cached)' if cached_timing.get('cached') else ''
        print(f'{name:<32} {timing["seconds"]:8.1f} {cached_timing.get("seconds", 0):8.1f}{mark}')
    print(f'{"whole run (process start to exit)":<32} {cold_s:8.1f} {cached_s:8.1f}')
    print(f'rerun, up to date (nothing ran): {up_to_date_s:.2f} s')
    print(f'peak RSS {max(cold_rss, cached_rss):.0f} MB; test RMSE {cold["test_rmse"]:.4f}; '
          f'Trainer {train_examples / trainer_s:.0f} train examples/s')
    if notebook:
        print(f"the tutorial's code as a script: {notebook['process_s']:.1f} s, test RMSE "
              f"{notebook['test_rmse']:.4f}; cold run / tutorial = "
              f"{cold_s / notebook['process_s']:.2f}")
    print(json.dumps({
        'cold_s': round(cold_s, 1), 'cached_s': round(cached_s, 1),
        'up_to_date_s': round(up_to_date_s, 2),
        'components': {name: t['seconds'] for name, t in cold['components'].items()},
        'cached_components': {name: t['seconds'] for name, t in cached['components'].items()},
        'peak_rss_mb': round(max(cold_rss, cached_rss)),
        'test_rmse': cold['test_rmse'],
        'split_counts': cold['data']['split_counts'],
        'trainer_examples_per_s': round(train_examples / trainer_s),
        **({'notebook_s': round(notebook['process_s'], 1),
            'notebook_test_rmse': notebook['test_rmse'],
            'cold_over_notebook': round(cold_s / notebook['process_s'], 3)} if notebook else {}),
    }))


if __name__ == '__main__':
    main()
