"""The time split (--split time): train is the past, eval what follows, test the future, cut
at global timestamp quantiles over the whole data set, whichever shard a rating is in."""
import numpy as np
import pytest

from components.movielens import contract, grouplens, splits
from datasets import synthetic
from models import features
from tests.components import movielens_data as data

NUM_RATINGS = 5000


@pytest.fixture(scope='module')
def time_run(tmp_path_factory):
    folder = synthetic.write_grouplens(str(tmp_path_factory.mktemp('csv')), NUM_RATINGS,
                                       seed=3, data_format=contract.FORMAT_CSV)
    # Small shards: the cut points must hold across Beam work units.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grouplens, 'LINES_PER_SHARD', 700)
        return data.run_executor(str(tmp_path_factory.mktemp('time_run')), folder,
                                 split=contract.SPLIT_TIME)


def timestamps(run, split):
    return np.array([example['timestamp'][0] for example in run.examples[split]])


def test_every_train_rating_is_before_every_eval_rating_before_every_test_rating(time_run):
    train, eval_, test = (timestamps(time_run, split) for split in features.SPLITS)
    assert len(train) + len(eval_) + len(test) == NUM_RATINGS
    assert train.max() < eval_.min() and eval_.max() < test.min()


def test_proportions_are_72_8_20(time_run):
    for split, share in zip(features.SPLITS, (0.72, 0.08, 0.20)):
        assert abs(len(time_run.examples[split]) / NUM_RATINGS - share) < 0.005, split


def test_the_artifact_records_the_split_and_where_it_cut(time_run):
    artifact = time_run.artifact
    assert artifact.get_string_custom_property('split') == 'time'
    assert artifact.get_string_custom_property('format') == 'csv'
    # The cut points are timestamps of the data: each split's first.
    assert artifact.get_int_custom_property('eval_start_timestamp') == \
        timestamps(time_run, 'eval').min()
    assert artifact.get_int_custom_property('test_start_timestamp') == \
        timestamps(time_run, 'test').min()


def test_cut_points_from_quantiles_and_from_few_timestamps():
    buckets = (72, 8, 20)
    assert splits.num_quantiles(buckets) == 101
    quantiles = list(range(1000, 1101))  # quantile i is at rank i %
    assert splits.cut_points(quantiles, buckets) == [1072, 1080]
    # Fewer timestamps than quantiles: all of them, sorted, cut in proportion.
    assert splits.cut_points([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], buckets) == [80, 90]
    assert splits.cut_points([5], buckets) == [6, 6]


def test_ratings_at_a_cut_go_to_the_later_split():
    splitter = splits.TimeSplitter(features.SPLITS, [100, 200])
    assert [splitter(t) for t in (99, 100, 199, 200, 10**10)] == [
        'train', 'eval', 'eval', 'test', 'test']
    with pytest.raises(ValueError, match='must be 2 timestamps in order'):
        splits.TimeSplitter(features.SPLITS, [200, 100])


def test_a_predefined_split_cannot_be_cut_by_time():
    with pytest.raises(ValueError, match='a predefined split fixes the test split'):
        data.example_gen('.', predefined_split='u1', split=contract.SPLIT_TIME)
    with pytest.raises(ValueError, match="split 'random' is not 'hash' or 'time'"):
        data.example_gen('.', split='random')
