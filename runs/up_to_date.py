"""A rerun with nothing changed answers from the last run's record, without importing TFX.

TFX's cache already runs no component when nothing changed, but reaching the cache means
importing TensorFlow, Beam and TFX first: seconds of every rerun, most of it TensorFlow's own
import. So a run that completes records a key of everything its result depends on, and a
later run that computes the same key, before those imports, prints that run's verdict instead.

The key covers the settings (every flag but --verbose), the data files, the project's code,
the installed packages, the Python and the environment variables the pipeline reads, and the
state the run left in the output dir: metadata.sqlite (hence the baseline the Evaluator
meets), pipeline_root/, the served models, the summary and the report. Files count by name,
size and modification time, as TFX's ExampleGen fingerprints its input. Any difference, a
run that did not complete, whose report was not written whole, or whose code or data changed
while it ran, or --no-cache, and the run goes through TFX as before.
"""
import argparse
import hashlib
import json
import os
import site
import sys
import time
from typing import Any, Dict, List, Optional

from components import filesystem
from components.movielens import contract
from pipeline import flags
from runs.output_dir import OutputDir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the pipeline imports from this project, and what runs it.
CODE = ('components', 'datasets', 'models', 'pipeline', 'reporting', 'runs')
ENTRY_POINTS = ('local_runner.py', 'setup.py')
# Flags that change what is printed, not what is computed; and the two dirs, which the key
# holds by their absolute paths (data(), and the output dir's listings), not as typed.
NOT_IN_KEY = frozenset({'verbose', 'data_dir', 'output_dir'})
ENVIRONMENT = ('TF_USE_LEGACY_KERAS', 'PYTHONPATH', 'CUDA_VISIBLE_DEVICES')


def data_path(args: argparse.Namespace, output_dir: OutputDir) -> Optional[str]:
    """Where the run will read its data, when that is known without doing anything: a local
    path given, the synthetic files or the download cache. None for a URI."""
    if args.source == flags.SYNTHETIC:
        return output_dir.synthetic_data(args.synthetic_format, args.synthetic_ratings,
                                         args.seed)
    if args.data_dir:
        return None if filesystem.is_uri(args.data_dir) else os.path.abspath(args.data_dir)
    return None if args.source == contract.TFDS else output_dir.downloads


def _raise(error: OSError):
    raise error


def files(path: str) -> List[List[Any]]:
    """[name, size, modification time] of path, or of every file under it but Python's
    caches, through links as the ExampleGen reads them; [] when absent. Raises OSError for
    what cannot be read."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return []
    if not os.path.isdir(path):
        return [['', status.st_size, status.st_mtime_ns]]
    listing, seen = [], set()
    for root, dirs, names in os.walk(path, onerror=_raise, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(name for name in dirs if name != '__pycache__')
        for name in sorted(names):
            file = os.path.join(root, name)
            try:
                status = os.stat(file)
            except FileNotFoundError:  # a dangling link
                continue
            listing.append([os.path.relpath(file, path), status.st_size, status.st_mtime_ns])
    return listing


def program() -> Dict[str, Any]:
    """What a run runs: the project's code, and the installed packages by the names of their
    metadata folders, which hold each one's version. (Not every folder on sys.path: the
    project's own, there when run from it, holds the egg-info that Beam's packaging writes.)"""
    folders = site.getsitepackages() + [site.getusersitepackages()]
    installed = sorted(name for folder in folders if os.path.isdir(folder)
                       for name in os.listdir(folder)
                       if name.endswith(('.dist-info', '.egg-info', '.egg-link')))
    return {'code': {name: files(os.path.join(ROOT, name)) for name in CODE + ENTRY_POINTS},
            'packages': installed, 'python': [sys.executable, sys.version]}


def data(args: argparse.Namespace, output_dir: OutputDir) -> Optional[Dict[str, Any]]:
    """What the run reads its data from, by file; None when a run must go through TFX
    whatever the last one recorded: --no-cache, or data behind a URI."""
    path = data_path(args, output_dir)
    if args.no_cache or path is None:
        return None
    return {path: files(path)}


def _key(args: argparse.Namespace, output_dir: OutputDir, run_program: Dict[str, Any],
         run_data: Dict[str, Any]) -> str:
    parts = {
        'settings': {name: value for name, value in sorted(vars(args).items())
                     if name not in NOT_IN_KEY},
        'program': run_program,
        'data': run_data,
        'environment': {name: os.environ.get(name) for name in ENVIRONMENT},
        'output_dir': {path: files(path) for path in (
            output_dir.metadata, output_dir.pipeline_root, output_dir.serving_model,
            output_dir.summary, output_dir.report)},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def forget(output_dir: OutputDir) -> None:
    """Drops the record before a run through TFX: until it completes, nothing is up to date."""
    try:
        os.remove(output_dir.up_to_date)
    except FileNotFoundError:
        pass


def record(args: argparse.Namespace, output_dir: OutputDir, program_read: Dict[str, Any],
           data_read: Optional[Dict[str, Any]]) -> None:
    """Records the key of the run that just completed, with the time it ended.

    program_read is program() when the run started, data_read data() once its data were
    ready: when either differs now, no one knows which version the run read, and it records
    nothing.
    """
    run_program, run_data = program(), data(args, output_dir)
    if run_data is None or (run_program, run_data) != (program_read, data_read):
        return
    with open(output_dir.up_to_date + '.tmp', 'w') as f:
        json.dump({'key': _key(args, output_dir, run_program, run_data), 'ended': time.time()},
                  f)
    os.replace(output_dir.up_to_date + '.tmp', output_dir.up_to_date)


def last_run(args: argparse.Namespace, output_dir: OutputDir,
             run_program: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The summary of the last run, when running `args` with `run_program` (program()) again
    would change nothing; its 'ended' is when that run ended (seconds since the epoch)."""
    try:
        with open(output_dir.up_to_date) as f:
            recorded = json.load(f)
        with open(output_dir.summary) as f:
            summary = json.load(f)
        run_data = data(args, output_dir)
        if run_data is None or not isinstance(recorded, dict) or recorded.get('key') != _key(
                args, output_dir, run_program, run_data):
            return None
    except (OSError, ValueError):
        return None
    return dict(summary, ended=recorded.get('ended'))
