"""What the tests of a run at its edges share: a rerun of the shared complete run in a copy,
what a run left (summary, report, lock, what TF Serving would see), and a tmpfs mounted for
one test."""
import contextlib
import hashlib
import json
import os
import subprocess
from typing import Dict, List

import pytest

from runs import record
from runs.output_dir import OutputDir
from tests.conftest import LENIENT_RMSE
from tests.reporting.page import Page


def rerun_flags(completed_run: str, output_dir: str, *more: str) -> List[str]:
    """local_runner.py's flags that rerun completed_run in a copy at output_dir: the
    ExampleGen reads the first run's data, unchanged, so every component up to the Pusher
    is taken from the cache (the Pusher runs: the copy's serving dir is new to it)."""
    example_gen = record.RunRecord.latest(OutputDir(completed_run).metadata).executions()[
        record.EXAMPLE_GEN]
    data_path = record.custom_config(example_gen)['data_path']
    return ['--output-dir', output_dir, '--data-dir', data_path,
            '--rmse-threshold', str(LENIENT_RMSE), *more]


def read_summary(output_dir: str) -> dict:
    with open(OutputDir(output_dir).summary) as f:
        return json.load(f)


def read_page(output_dir: str) -> Page:
    """The report the last run wrote."""
    return Page.read(OutputDir(output_dir).report_page)


def serving_tree(output_dir: str) -> Dict[str, str]:
    """Every entry under serving_model/, with the hash of each file's bytes."""
    base = OutputDir(output_dir).serving_model
    entries = {}
    for folder, names, files in os.walk(base):
        for name in names:
            entries[os.path.relpath(os.path.join(folder, name), base)] = 'dir'
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                entries[os.path.relpath(path, base)] = hashlib.sha256(f.read()).hexdigest()
    return entries


def lock_holder(output_dir: str) -> str:
    """What <output-dir>/.lock says: a run that ended in order leaves it empty."""
    with open(OutputDir(output_dir).lock) as f:
        return f.read()


def mount(*args: str) -> None:
    """mount(8) with these arguments; skips the test where mounting is not allowed."""
    result = subprocess.run(['mount', *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here (mount {" ".join(args)}: '
                    f'{result.stderr.strip() or "exit " + str(result.returncode)}); these '
                    'tests need root, or CAP_SYS_ADMIN')


@contextlib.contextmanager
def tmpfs(path: str, *options: str):
    """A tmpfs mounted at path (created) while the block runs, with mount's -o options."""
    os.makedirs(path, exist_ok=True)
    mount('-t', 'tmpfs', '-o', ','.join(options), 'tmpfs', path)
    try:
        yield path
    finally:
        # Lazy: a file still open in this process must not leave the mount behind.
        subprocess.run(['umount', '--lazy', path], check=True)


def used_bytes(path: str) -> int:
    """Bytes in use on the file system holding path."""
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.strip()]
