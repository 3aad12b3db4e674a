"""Hand-built report contexts for the tests that need no pipeline run: a complete run, and the
same run stopped by the AnomalyGate."""
import dataclasses

from reporting.context import (Anomalies, Baseline, Blessing, Failed, FeatureRow, Features,
                               Footer, Header, Image, LongTail, Missing, PredictionSample,
                               PushedModel, RankPanel, RatingSplit, Ratings, ReportContext,
                               RmseComparison, Signature, SliceRow, Slices, SplitCount, Splits,
                               StarPredictions, TimingRow, Timings, Training)

PARTS = {
    'splits': Splits((SplitCount('train', 720, 72.0), SplitCount('eval', 80, 8.0),
                      SplitCount('test', 200, 20.0)), 1000, None),
    'ratings': Ratings((1, 2, 3, 4, 5), (
        RatingSplit('train', (6.0, 11.0, 27.0, 34.0, 22.0), 3.55, 1.12, 1.0, 5.0),
        RatingSplit('test', (5.0, 12.0, 28.0, 33.0, 22.0), 3.55, 1.1, 1.0, 5.0))),
    'long_tail': LongTail('train', (
        RankPanel('user_id', 'user', 'active', (40.0, 30.0, 20.0, 10.0), 4, 1, 40.0, 25.0,
                  '7', 40.0),
        RankPanel('movie_title', 'movie', 'rated', (5.0, 4.0, 3.0), 900, 90, 1.2, None,
                  'Toy Story (1995)', 5.0))),
    'anomalies': Anomalies(('train', 'eval', 'test'), (),
                           'components/schemas/with_users_whole_stars.pbtxt'),
    'features': Features('train', (FeatureRow('user_id', 'string', 100.0, '4 distinct values'),
                                   FeatureRow('user_rating', 'float', 100.0,
                                              'mean 3.55, min 1, max 5'))),
    'training': Training({'loss': (4.0, 3.0, 2.5, 2.4), 'rmse': (1.3, 1.1, 1.0, 0.95),
                          'val_loss': (3.9, 3.1, 3.0, 3.2), 'val_rmse': (1.2, 1.05, 1.01, 1.03)},
                         3, 1.01, 'epoch 3: early stopping (patience 1) restored its weights',
                         1.0101, 3, 'architecture hybrid, epochs 40', '/runs/Trainer/model_run/7',
                         refit_epochs=3, refit_examples=800,
                         blend={'kind_weights': {'hybrid': 0.7, 'biased_mf': 0.35},
                                'offset': -0.2, 'unblended_eval_rmse': 1.0202}),
    'rmse': RmseComparison(0.9876, 1.0101, Baseline(1.0123, '/runs/Trainer/model/3', False),
                           3.55, 1.1002, None, 1.5, bias_baseline_rmse=1.0234),
    'slices': Slices((SliceRow('gender F', 0, 1.01, 60.0, 1.03),
                      SliceRow('gender M', 0, 0.97, 140.0, 1.0),
                      SliceRow('age under 18', 1, 1.2, 12.0, 1.25)),
                     0.9876, ('user_gender', 'bucketized_user_age')),
    'predictions': PredictionSample(
        200, 1, 0.9876,
        tuple(StarPredictions(star, 40, 2.5 + star / 4, 2.4 + star / 4, 2.5 + star / 4,
                              2.6 + star / 4, 2.0 + star / 4, 3.0 + star / 4)
              for star in range(1, 6)),
        (0.0, 5.0, 45.0, 50.0, 0.0), (6.0, 11.0, 27.0, 34.0, 22.0)),
    'blessing': Blessing(True, 'blessed: test RMSE 0.9876 is within the bound 1.5', (
        'test RMSE at most 1.5 (--rmse-threshold)',), (), '/runs/Evaluator/evaluation/9'),
    'pushed_model': PushedModel('/runs/serving_model/1700000000', '1700000000', (
        Signature('serving_default', ('examples: string[-1]',), ('rating: float32[-1]',)),),
        'python rank.py --model-dir /runs/serving_model --user-id 7 --top-k 10'),
    'timings': Timings((TimingRow('MovieLensExampleGen', 'done', 2.0, False, False),
                        TimingRow('StatisticsGen', 'cached', 0.1, True, False),
                        TimingRow('Trainer', 'done', 27.8, False, False)), None),
}
FIGURES = ('ratings', 'long_tail', 'training', 'rmse', 'slices', 'predictions', 'timings')

HEADER = Header(
    pipeline_name='movielens-ranking', started='2026-12-01 22:06:33', status='completed',
    good=True, failure_message=None, cached=0, components=3, test_rmse=0.9876,
    eval_rmse=1.0101, blessed=True, verdict_cached=False,
    pushed_model_dir='/runs/serving_model/1700000000', push_cached=False,
    data_source='synthetic', data_path='/data/ml', data_format='10m', data_split='time',
    wall_seconds=76.12)
FOOTER = Footer('2026-12-01 22:08:00', '/runs', 'run_summary.json',
                '2026-12-01T22:06:33.620668', ())


def complete() -> ReportContext:
    """A complete run's context; its figures are named but not drawn."""
    return ReportContext(header=HEADER, footer=FOOTER, problems=(),
                         images={name: Image(f'{name}.png', 640, 320) for name in FIGURES},
                         **PARTS)


def stopped(failure_message: str = 'The examples do not match the schema') -> ReportContext:
    """The run stopped by the AnomalyGate: no training, evaluation or push; one part failed."""
    did_not_run = 'Trainer did not run: the run stopped when AnomalyGate failed.'
    parts = dict(PARTS, anomalies=Anomalies(('train',), (
        "train: feature 'raw_user_age': Out-of-range values. Unexpectedly large value: 150.",)),
        features=Failed('ValueError: <unreadable> statistics', 'Traceback ...'),
        training=Missing(did_not_run), rmse=Missing(did_not_run),
        slices=Missing(did_not_run), predictions=Missing(did_not_run),
        blessing=Missing(did_not_run), pushed_model=Missing(f'Nothing was pushed. {did_not_run}'))
    return ReportContext(
        header=dataclasses.replace(HEADER, status='stopped: AnomalyGate failed', good=False,
                                   failure_message=failure_message, test_rmse=None,
                                   eval_rmse=None, blessed=False, pushed_model_dir=None),
        footer=FOOTER, problems=('Data: Features: ValueError: <unreadable> statistics',),
        images={name: Image(f'{name}.png', 640, 320)
                for name in ('ratings', 'long_tail', 'timings')},
        **parts)
