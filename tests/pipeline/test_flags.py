"""The runners' shared flags turn into the pipeline's training settings."""
import argparse

import pytest

from pipeline import configs, flags


def settings(*argv):
    parser = argparse.ArgumentParser()
    flags.add_training_flags(parser, sources=flags.LOCAL_SOURCES)
    return flags.pipeline_arguments(flags.checked(parser, parser.parse_args(list(argv))))


def test_defaults_are_the_hybrid_models_settings():
    assert settings()['hyperparameters'] == configs.HYBRID_HYPERPARAMETERS


def test_epochs_caps_training_and_keeps_the_other_settings():
    hyperparameters = settings('--epochs', '2', '--seed', '7')['hyperparameters']
    assert hyperparameters == dict(configs.HYBRID_HYPERPARAMETERS, epochs=2, seed=7)


def test_architecture_picks_its_own_settings():
    hyperparameters = settings('--architecture', 'notebook')['hyperparameters']
    assert hyperparameters == configs.NOTEBOOK_HYPERPARAMETERS


@pytest.mark.parametrize('epochs', ['0', '-1', 'two'])
def test_epochs_below_one_is_refused(epochs, capsys):
    with pytest.raises(SystemExit):
        settings('--epochs', epochs)
    assert f"--epochs: {epochs!r} is not a whole number of at least 1" in capsys.readouterr().err


def test_synthetic_data_is_read_as_grouplens_files():
    assert settings('--source', 'synthetic')['source'] == 'grouplens'


def test_a_tfds_name_this_pipeline_does_not_read_is_refused(capsys):
    with pytest.raises(SystemExit):
        settings('--source', 'tfds', '--tfds-name', 'movielens/latest-small-movies')
    assert "'movielens/latest-small-movies' is not one of" in capsys.readouterr().err


def test_a_tfds_name_may_carry_a_version():
    assert settings('--tfds-name', 'movielens/1m-ratings:0.1.1')['tfds_name'] == (
        'movielens/1m-ratings:0.1.1')


def test_a_predefined_split_needs_the_grouplens_files(capsys):
    with pytest.raises(SystemExit):
        settings('--source', 'tfds', '--predefined-split', 'u1')
    assert '--predefined-split needs the GroupLens files' in capsys.readouterr().err


def test_split_is_by_hash_unless_time_is_asked_for():
    assert settings()['split'] == 'hash'
    assert settings('--split', 'time')['split'] == 'time'


def test_a_predefined_split_cannot_also_be_cut_by_time(capsys):
    with pytest.raises(SystemExit):
        settings('--split', 'time', '--predefined-split', 'r1')
    assert '--predefined-split fixes the test split' in capsys.readouterr().err
