"""A rerun with nothing changed answers from the last run's record; any change, and the run
goes through TFX (runs/up_to_date.py).

The output dir here holds what a completed run leaves, made by hand: a SQLite store, an
artifact, a served version and a summary. tests/test_local_runner_history.py reruns a real
run in a subprocess and checks that it imports no TensorFlow and leaves MLMD as it was.
"""
import json
import os
import shutil
import sqlite3

import pytest

import local_runner
from runs import output_dir as output_dir_module
from runs import up_to_date

SUMMARY = {
    'data': {'skipped_rows': 2},
    'gate': {'reason': "blessed: test RMSE 0.8855 beats the user + item bias baseline's 0.9395"},
    'pushed_model_dir': 'serving_model/17',
    'components': {'Evaluator': {'seconds': 11.0, 'cached': False},
                   'Pusher': {'seconds': 0.2, 'cached': False}},
}


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / 'ml-100k'
    path.mkdir()
    (path / 'u.data').write_text('1\t1\t5\t881250949\n')
    (path / 'u.item').write_text('1|Toy Story (1995)|01-Jan-1995||\n')
    return str(path)


@pytest.fixture
def output_dir(tmp_path):
    """An output dir as a completed run leaves it."""
    output = output_dir_module.prepare(str(tmp_path / 'output'))
    connection = sqlite3.connect(output.metadata)
    connection.execute('CREATE TABLE Execution (id INTEGER)')
    connection.commit()
    connection.close()
    os.makedirs(os.path.join(output.pipeline_root, 'Trainer', 'model', '6'))
    with open(os.path.join(output.pipeline_root, 'Trainer', 'model', '6', 'saved_model.pb'),
              'wb') as f:
        f.write(b'model')
    os.makedirs(os.path.join(output.serving_model, '17'))
    with open(os.path.join(output.serving_model, '17', 'saved_model.pb'), 'wb') as f:
        f.write(b'model')
    with open(output.summary, 'w') as f:
        json.dump(SUMMARY, f)
    return output


def parse(data_dir, output_dir, *more):
    return local_runner.parse_args(['--data-dir', data_dir, '--output-dir', output_dir.path,
                                    *more])


def last_run(args, output_dir):
    """What a rerun of args with the code and packages as they are now finds."""
    return up_to_date.last_run(args, output_dir, up_to_date.program())


def record(args, output_dir):
    """What a run of args that read the files as they are now records."""
    up_to_date.record(args, output_dir, up_to_date.program(), up_to_date.data(args, output_dir))


def test_a_recorded_run_is_found_with_its_summary(data_dir, output_dir):
    args = parse(data_dir, output_dir)
    assert last_run(args, output_dir) is None
    record(args, output_dir)
    found = last_run(args, output_dir)
    assert found.pop('ended') > 0
    assert found == SUMMARY
    # --verbose changes what is printed, not what is computed.
    verbose = last_run(parse(data_dir, output_dir, '--verbose'), output_dir)
    assert verbose is not None and verbose.pop('ended') > 0 and verbose == SUMMARY


def append(path, text):
    with open(path, 'a') as f:
        f.write(text)


CHANGES = {
    'a data file edited': lambda data, output: append(os.path.join(data, 'u.data'),
                                                      '1\t2\t4\t881250950\n'),
    'a data file touched': lambda data, output: os.utime(os.path.join(data, 'u.item'),
                                                         ns=(0, 10**18)),
    'a data file added': lambda data, output: append(os.path.join(data, 'u1.base'), ''),
    'metadata.sqlite written': lambda data, output: sqlite3.connect(output.metadata).execute(
        'INSERT INTO Execution VALUES (7)').connection.commit(),
    'an artifact deleted': lambda data, output: shutil.rmtree(output.pipeline_root),
    'the served version deleted': lambda data, output: shutil.rmtree(
        os.path.join(output.serving_model, '17')),
    'a report written': lambda data, output: (os.makedirs(output.report), append(
        output.report_page, '<html>')),
}


@pytest.mark.parametrize('change', sorted(CHANGES))
def test_any_change_to_the_data_or_the_output_dir_means_a_run(data_dir, output_dir, change):
    args = parse(data_dir, output_dir)
    record(args, output_dir)
    CHANGES[change](data_dir, output_dir)
    assert last_run(args, output_dir) is None


@pytest.mark.parametrize('flag', [['--epochs', '2'], ['--seed', '7'], ['--skip-bad-rows'],
                                  ['--beam-arg=--direct_num_workers=2']])
def test_another_setting_means_a_run(data_dir, output_dir, flag):
    record(parse(data_dir, output_dir), output_dir)
    assert last_run(parse(data_dir, output_dir, *flag), output_dir) is None


def test_an_edit_of_the_code_or_the_environment_means_a_run(data_dir, output_dir, tmp_path,
                                                           monkeypatch):
    project = tmp_path / 'project'
    (project / 'models').mkdir(parents=True)
    (project / 'models' / 'model.py').write_text('EPOCHS = 3\n')
    monkeypatch.setattr(up_to_date, 'ROOT', str(project))
    monkeypatch.setattr(up_to_date, 'CODE', ('models',))
    args = parse(data_dir, output_dir)
    record(args, output_dir)
    assert last_run(args, output_dir) is not None
    (project / 'models' / 'model.py').write_text('EPOCHS = 4\n')
    assert last_run(args, output_dir) is None
    record(args, output_dir)
    monkeypatch.setenv('TF_USE_LEGACY_KERAS', '0')
    assert last_run(args, output_dir) is None


def test_a_run_whose_data_or_code_changed_while_it_ran_records_nothing(data_dir, output_dir,
                                                                     tmp_path, monkeypatch):
    monkeypatch.setattr(up_to_date, 'ROOT', str(tmp_path))
    monkeypatch.setattr(up_to_date, 'CODE', ('models',))
    (tmp_path / 'models').mkdir()
    (tmp_path / 'models' / 'model.py').write_text('EPOCHS = 3\n')
    args = parse(data_dir, output_dir)
    program_read, data_read = up_to_date.program(), up_to_date.data(args, output_dir)
    # Replaced with a file of another size but the old time, as rsync -a or cp -p would.
    modified = os.stat(os.path.join(data_dir, 'u.data')).st_mtime_ns
    append(os.path.join(data_dir, 'u.data'), '1\t2\t4\t881250950\n')
    os.utime(os.path.join(data_dir, 'u.data'), ns=(modified, modified))
    up_to_date.record(args, output_dir, program_read, data_read)
    assert not os.path.exists(output_dir.up_to_date)
    data_read = up_to_date.data(args, output_dir)
    (tmp_path / 'models' / 'model.py').write_text('EPOCHS = 40\n')
    up_to_date.record(args, output_dir, program_read, data_read)
    assert not os.path.exists(output_dir.up_to_date)
    up_to_date.record(args, output_dir, up_to_date.program(), data_read)
    assert last_run(args, output_dir) is not None


def test_data_behind_a_link_count_as_the_example_gen_reads_them(data_dir, output_dir,
                                                               tmp_path):
    linked = tmp_path / 'linked'
    linked.mkdir()
    os.symlink(data_dir, linked / 'ml-100k')
    os.symlink(linked, os.path.join(data_dir, 'loop'))  # a link back up the tree
    args = parse(str(linked), output_dir)
    record(args, output_dir)
    assert last_run(args, output_dir) is not None
    append(os.path.join(data_dir, 'u.data'), '1\t2\t4\t881250950\n')
    assert last_run(args, output_dir) is None


def test_unreadable_data_mean_a_run(data_dir, output_dir, monkeypatch):
    args = parse(data_dir, output_dir)
    record(args, output_dir)
    run_program = up_to_date.program()  # as the run listed it when it started

    def unreadable(path):
        raise PermissionError(13, 'Permission denied', path)

    monkeypatch.setattr(os, 'scandir', unreadable)
    assert up_to_date.last_run(args, output_dir, run_program) is None


def test_synthetic_data_the_run_wrote_itself_are_read_once_ready(output_dir, monkeypatch):
    args = local_runner.parse_args(['--source', 'synthetic', '--synthetic-ratings', '500',
                                    '--output-dir', output_dir.path])
    program_read = up_to_date.program()
    path = up_to_date.data_path(args, output_dir)
    os.makedirs(path)
    append(os.path.join(path, 'u.data'), '1\t1\t5\t881250949\n')
    up_to_date.record(args, output_dir, program_read, up_to_date.data(args, output_dir))
    assert last_run(args, output_dir) is not None
    # From another folder, by a relative path: the same run.
    monkeypatch.chdir(os.path.dirname(output_dir.path))
    relative = local_runner.parse_args(['--source', 'synthetic', '--synthetic-ratings', '500',
                                        '--output-dir', os.path.basename(output_dir.path)])
    assert last_run(relative, output_dir) is not None


def test_no_cache_a_uri_and_a_damaged_record_always_mean_a_run(data_dir, output_dir):
    for args in (parse(data_dir, output_dir, '--no-cache'),
                 parse('gs://bucket/ml-100k', output_dir)):
        up_to_date.record(args, output_dir, up_to_date.program(), None)
        assert not os.path.exists(output_dir.up_to_date)
        assert last_run(args, output_dir) is None
    args = parse(data_dir, output_dir)
    record(args, output_dir)
    up_to_date.forget(output_dir)
    assert last_run(args, output_dir) is None
    with open(output_dir.up_to_date, 'w') as f:
        f.write('{"key": ')
    assert last_run(args, output_dir) is None


def test_the_rerun_prints_the_last_runs_verdict_and_runs_nothing(data_dir, output_dir,
                                                                 capsys):
    record(parse(data_dir, output_dir), output_dir)
    assert local_runner.main(['--data-dir', data_dir, '--output-dir', output_dir.path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f'Up to date: nothing ran. The data, the code, the settings and '
                               f'{output_dir.path} are as the run that ended ')
    assert lines[1:] == [
        f'Its summary: {output_dir.summary}',
        'Skipped 2 bad rating rows (--skip-bad-rows).',
        f"Model gate: {SUMMARY['gate']['reason']} (an earlier run's verdict on the same model "
        'and data).',
        'Nothing new to push: serving_model/17 was pushed by an earlier run from the same '
        'model.']
    # Still up to date: the rerun changed nothing.
    assert last_run(parse(data_dir, output_dir), output_dir) is not None


def test_a_run_through_tfx_drops_the_record_and_a_failed_one_records_nothing(
        data_dir, output_dir, capsys):
    record(parse(data_dir, output_dir), output_dir)
    # Another setting: through TFX, where these files (no u.user, ...) stop the run.
    code = local_runner.main(['--data-dir', data_dir, '--output-dir', output_dir.path,
                              '--epochs', '2'])
    assert code == 1, capsys.readouterr()
    assert not os.path.exists(output_dir.up_to_date)
    assert last_run(parse(data_dir, output_dir), output_dir) is None
