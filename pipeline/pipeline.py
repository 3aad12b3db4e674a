"""The pipeline's wiring, and nothing else: every setting arrives as an argument, from
configs.py through the runners' flags (pipeline/flags.py)."""
from typing import Any, Dict, List, Optional, Sequence, Type

import tensorflow_model_analysis as tfma
from tfx.components import ExampleValidator, Trainer
from tfx.dsl.components.common.resolver import ResolverStrategy
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2, trainer_pb2, transform_pb2

from components import evaluator_extractors, rmse_metric
from components.anomaly_gate import AnomalyGate
from components.atomic_pusher import AtomicPusher
from components.batched_reads import BatchedEvaluator, BatchedStatisticsGen, BatchedTransform
from components.baseline_resolver import baseline_resolver
from components.curated_schema import CuratedSchemaGen, schemas_fingerprint
from components.movielens.component import MovieLensExampleGen
from components.served_baseline import LatestServedModel, ServedBaselineEvaluator
from models import features
from models.ranking import signatures
from pipeline import source_fingerprint

# Transform traces its graph as TF1: a fraction of the time of a tf.function, and the Keras
# serving model loads it through transform_features_layer() all the same.
TRANSFORM_FORCE_TF_COMPAT_V1 = True


def eval_config(rmse_upper_bound: Optional[float], rmse_min_improvement: float,
                slices: Sequence[str], batch_size: int) -> tfma.EvalConfig:
    """RMSE on the test split, overall and per slice, and the gate on the whole split.

    A model is blessed only if its test RMSE beats the last blessed model's by at least
    rmse_min_improvement (when there is one), and:
    - with no rmse_upper_bound (the default), if it beats the user + item bias baseline
      fitted on the same train split by at least rmse_min_improvement, on the same test
      examples. The bias baseline's RMSE depends on the release, so this bar fits every
      MovieLens dataset where a fixed number cannot.
    - with an rmse_upper_bound (--rmse-threshold), if its test RMSE is at most that bound,
      instead: the bias baseline's RMSE is still reported, but not gated on.

    The candidate is rated through its `evaluate` signature, which adds the bias baseline's
    rating to the model's (models/ranking/signatures.py). The last blessed model is rated
    through `serving_default`, which every model ever pushed has: only the candidate's bias
    baseline is needed.

    Args:
      rmse_upper_bound: a model whose RMSE is above it is never blessed; None to hold
        models to the bias baseline instead.
      rmse_min_improvement: how much lower than the bar's (the last blessed model's, the
        bias baseline's) the RMSE must be.
      slices: features to report the RMSE by, raw or made by Transform. A raw feature that
        a release does not have (user_gender in MovieLens 10M, ...) yields no slice.
      batch_size: examples per call of the model.
    """
    better_than_blessed = tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.LOWER_IS_BETTER,
        absolute={'value': -rmse_min_improvement})
    if rmse_upper_bound is None:
        rmse_threshold = tfma.MetricThreshold(change_threshold=better_than_blessed)
    else:
        rmse_threshold = tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(upper_bound={'value': rmse_upper_bound}),
            change_threshold=better_than_blessed)

    def whole_split(threshold):
        # The gate applies to the whole test split; slices are reported, not gated, since
        # a small slice's RMSE is too noisy to decide on.
        return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                             threshold=threshold)]

    improvement = tfma.MetricConfig(class_name=rmse_metric.BiasBaselineImprovement.__name__,
                                    module=rmse_metric.__name__)
    if rmse_upper_bound is None:
        improvement.per_slice_thresholds.extend(whole_split(tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(
                lower_bound={'value': rmse_min_improvement}))))

    def model_spec(name, signature, is_baseline):
        # The candidate's transform_features gives TFMA the activity and popularity buckets
        # to slice by. Not the baseline's: TFMA slices by the union of both models' features,
        # so an example whose bucket differs between the two models would count in two
        # slices. Yet the baseline needs some output there, without them: TFMA stores a
        # lone model's outputs without its name, and then finds none for either model.
        # serving_default's rating is one that every pushed model has.
        # tf_generic: TFMA calls only the SavedModel's signatures, so it need not revive the
        # Keras model (it would, twice, only to learn that it is Keras).
        return tfma.ModelSpec(name=name, signature_name=signature, is_baseline=is_baseline,
                              label_key=features.LABEL, prediction_key=rmse_metric.PREDICTION_KEY,
                              model_type='tf_generic',
                              preprocessing_function_names=[
                                  signatures.SERVING_DEFAULT if is_baseline
                                  else signatures.TRANSFORM_FEATURES],
                              inference_batch_size=batch_size)

    return tfma.EvalConfig(
        # Both specs, so that each model is rated through its own signature; the Evaluator
        # drops the baseline's when there is no blessed model yet.
        model_specs=[model_spec(tfma.CANDIDATE_KEY, signatures.EVALUATE, False),
                     model_spec(tfma.BASELINE_KEY, signatures.SERVING_DEFAULT, True)],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[key])
                                              for key in slices],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            # Ours, not Keras's: one pass gives the RMSE, the mean absolute error, the
            # example count and the bias baseline's RMSE; see rmse_metric.py.
            tfma.MetricConfig(
                class_name=rmse_metric.RootMeanSquaredError.__name__,
                module=rmse_metric.__name__,
                per_slice_thresholds=whole_split(rmse_threshold)),
            improvement,
        ])],
        # The metrics above are all we need; TFMA's default would re-run the Keras model's
        # own compiled metrics, which expect transformed inputs rather than raw examples.
        options=tfma.Options(include_default_metrics={'value': False}))


def create_pipeline(
        pipeline_name: str,
        pipeline_root: str,
        data_path: str,
        source: str,
        tfds_name: Optional[str],
        predefined_split: Optional[str],
        split: str,
        skip_bad_rows: bool,
        split_buckets: Sequence[int],
        preprocessing_fn: str,
        run_fn: str,
        hyperparameters: Dict[str, Any],
        train_steps: Optional[int],
        rmse_upper_bound: Optional[float],
        rmse_min_improvement: float,
        slices: Sequence[str],
        eval_batch_size: int,
        serving_model_dir: str,
        baseline_strategy: Optional[Type[ResolverStrategy]],
        metadata_connection_config=None,
        beam_pipeline_args: Optional[List[str]] = None,
        enable_cache: bool = True,
) -> tfx_pipeline.Pipeline:
    """ExampleGen -> statistics, the release's curated schema, validation -> Transform ->
    Trainer -> Evaluator (against the last blessed model, or the served one) -> Pusher.

    Args:
      pipeline_name: names the pipeline in MLMD and on Kubeflow.
      pipeline_root: where every component writes its artifacts.
      data_path: the MovieLens data (see MovieLensExampleGen).
      source: components.movielens.contract.GROUPLENS or TFDS.
      tfds_name: with source TFDS, the TFDS config to read.
      predefined_split: a split GroupLens ships with the release (uN, rN) to use for test,
        or None.
      split: how train, eval and test are made: components.movielens.contract.SPLIT_HASH or
        SPLIT_TIME (with a predefined split, SPLIT_HASH carves eval from its train file).
      skip_bad_rows: drop and count bad rating rows instead of failing.
      split_buckets: relative sizes of the train, eval and test splits.
      preprocessing_fn: dotted path of Transform's preprocessing_fn.
      run_fn: dotted path of the Trainer's run_fn.
      hyperparameters: the model's settings (models/ranking/hyperparameters.py).
      train_steps: a cap on training steps, or None.
      rmse_upper_bound: a model whose test RMSE is above it is never blessed; None (the
        default) holds it to the user + item bias baseline instead (see eval_config).
      rmse_min_improvement: how much a model must beat the last blessed one, and the bias
        baseline, by.
      slices: features the Evaluator reports the RMSE by.
      eval_batch_size: examples per model call in the Evaluator.
      serving_model_dir: where the Pusher writes blessed models, in TF Serving's layout.
      baseline_strategy: how the Evaluator's baseline is found. Locally the last blessed
        model other than the candidate, so that an unchanged rerun is served from the
        cache; for Vertex AI, TFX's LatestBlessedModelStrategy, the only one
        KubeflowV2DagRunner compiles (see components/baseline_resolver.py). None: the
        newest model in serving_model_dir (components/served_baseline.py), for open-source
        Kubeflow Pipelines, which runs no resolver.
      metadata_connection_config: MLMD; None where the orchestrator provides it.
      beam_pipeline_args: arguments of every Beam component.
      enable_cache: reuse a component's earlier outputs when its inputs are unchanged.
    """
    example_gen = MovieLensExampleGen(
        data_path=data_path, source=source, split_buckets=split_buckets, tfds_name=tfds_name,
        predefined_split=predefined_split, skip_bad_rows=skip_bad_rows, split=split)
    statistics_gen = BatchedStatisticsGen(
        examples=example_gen.outputs['examples']).with_id('StatisticsGen')
    # The schema follows the release the ExampleGen found, known only when it has run.
    schema_gen = CuratedSchemaGen(examples=example_gen.outputs['examples'],
                                  fingerprint=schemas_fingerprint())
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])
    anomaly_gate = AnomalyGate(anomalies=example_validator.outputs['anomalies'],
                               schema=schema_gen.outputs['schema'])
    transform = BatchedTransform(
        examples=example_gen.outputs['examples'],
        schema=anomaly_gate.outputs['validated_schema'],
        preprocessing_fn=preprocessing_fn,
        # Transform only analyzes (the vocabularies, ...): the Trainer applies its graph as it
        # reads each split once into memory, and the Evaluator's serving signature applies it
        # to raw test examples, so transformed copies of the splits would be written for
        # nothing.
        splits_config=transform_pb2.SplitsConfig(analyze=[features.TRAIN_SPLIT]),
        materialize=False,
        # StatisticsGen already describes the raw data; Transform's own pre- and
        # post-transform statistics would double the cost of this component.
        disable_statistics=True,
        force_tf_compat_v1=TRANSFORM_FORCE_TF_COMPAT_V1,
        # The analyzer cache pays only when a later run analyzes some of the same spans
        # again; with one span, an unchanged rerun is served from TFX's own cache.
        disable_analyzer_cache=True,
        # Not read by preprocessing_fn: it makes an edit of the code a cache miss.
        custom_config={'source': source_fingerprint.transform_source()}).with_id('Transform')
    trainer = Trainer(
        run_fn=run_fn,
        examples=example_gen.outputs['examples'],
        transform_graph=transform.outputs['transform_graph'],
        train_args=trainer_pb2.TrainArgs(splits=[features.TRAIN_SPLIT], num_steps=train_steps),
        eval_args=trainer_pb2.EvalArgs(splits=[features.EVAL_SPLIT]),
        custom_config={'hyperparameters': hyperparameters,
                       'source': source_fingerprint.trainer_source()})
    if baseline_strategy is None:
        baseline = LatestServedModel(serving_dir=serving_model_dir)
        evaluator_class = ServedBaselineEvaluator
    else:
        baseline = baseline_resolver(trainer.outputs['model'], baseline_strategy)
        evaluator_class = BatchedEvaluator
    # Either class keeps the id 'Evaluator', as MLMD, the run summary and the tasks know it.
    evaluator = evaluator_class(
        examples=example_gen.outputs['examples'],
        model=trainer.outputs['model'],
        baseline_model=baseline.outputs['model'],
        example_splits=[features.TEST_SPLIT],
        eval_config=eval_config(rmse_upper_bound, rmse_min_improvement, slices,
                                eval_batch_size),
        # Its custom_extractors slice whole batches, where TFMA's would slice per example.
        module_path=evaluator_extractors.__name__,
    ).with_id('Evaluator')
    # TFX's Pusher, but a version appears only once it is completely copied; the id stays
    # 'Pusher', as MLMD, the run summary and the Kubeflow task know it.
    pusher = AtomicPusher(
        model=trainer.outputs['model'],
        model_blessing=evaluator.outputs['blessing'],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_model_dir)),
    ).with_id('Pusher')

    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, anomaly_gate,
                    transform, trainer, baseline, evaluator, pusher],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
