"""Pipeline runs that the report tests share: tests/conftest.py's completed_run, and a run
that the AnomalyGate stopped. Both are read-only, and checked to be unchanged at the end of
the session."""
import hashlib
import os

import pytest

from datasets import synthetic

# Outside the schema's domain of raw_user_age (1..120): the AnomalyGate stops the run.
ANOMALOUS_AGE = 150


def _files(output_dir: str) -> dict:
    """Every file under output_dir: (size, modification time, content digest) by path."""
    files = {}
    for root, _, names in os.walk(output_dir):
        for name in names:
            path = os.path.join(root, name)
            with open(path, 'rb') as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            files[os.path.relpath(path, output_dir)] = (os.path.getsize(path),
                                                        os.stat(path).st_mtime_ns, digest)
    return files


def _unchanged(output_dir: str):
    """Yields output_dir; fails the session if any test changed a file in it."""
    before = _files(output_dir)
    yield output_dir
    after = _files(output_dir)
    changed = sorted(path for path in set(before) | set(after)
                     if before.get(path) != after.get(path))
    assert not changed, (f'a test changed the read-only run {output_dir}: {changed[:10]}; '
                         'work on tests.conftest.copy_run(...) instead')


@pytest.fixture(scope='session')
def completed_run(completed_run):
    """tests/conftest.py's complete run, checked to be unchanged at the end."""
    yield from _unchanged(completed_run)


@pytest.fixture(scope='session')
def stopped_run(tmp_path_factory):
    """The output dir of a run that the AnomalyGate stopped: one user is 150 years old.

    Read-only, as completed_run: a test that changes it works on a copy_run.
    """
    import local_runner

    root = tmp_path_factory.mktemp('stopped-run')
    data_dir = synthetic.write_grouplens(str(root / 'data'), 3000, seed=1)
    users_path = os.path.join(data_dir, 'u.user')
    with open(users_path) as f:
        users = f.read().splitlines()
    fields = users[0].split('|')  # u.user: id|age|gender|occupation|zip
    fields[1] = str(ANOMALOUS_AGE)
    users[0] = '|'.join(fields)
    with open(users_path, 'w') as f:
        f.write('\n'.join(users) + '\n')
    output_dir = str(root / 'run')
    assert local_runner.main(['--output-dir', output_dir, '--data-dir', data_dir]) != 0
    yield from _unchanged(output_dir)
