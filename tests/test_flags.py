"""The runners' shared flags turn into the pipeline's training settings."""
import argparse

import pytest

from pipeline import configs, flags


def settings(*argv):
    parser = argparse.ArgumentParser()
    flags.add_training_flags(parser, sources=('grouplens', 'tfds'))
    return flags.training_settings(parser.parse_args(list(argv)))


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
