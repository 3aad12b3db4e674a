"""The pipeline's wiring, and nothing else: settings come from configs.py via the runners."""
from typing import Any, Dict, List, Optional, Type

import tensorflow_model_analysis as tfma
from tfx.components import Evaluator, ExampleValidator, StatisticsGen, Trainer, Transform
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import ResolverStrategy
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2, trainer_pb2, transform_pb2

from components.anomaly_gate import AnomalyGate
from components.atomic_pusher import AtomicPusher
from components.baseline_resolver import LatestBlessedOtherModelStrategy, baseline_resolver
from components.movielens import MovieLensExampleGen
from models import features
from pipeline import configs, metrics, source_fingerprint


def eval_config(rmse_upper_bound: float = configs.RMSE_UPPER_BOUND,
                slices=configs.SLICES) -> tfma.EvalConfig:
    """RMSE on the test split, overall and per slice, gated by an absolute bound and the
    improvement over the last blessed model."""
    rmse_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(upper_bound={'value': rmse_upper_bound}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.LOWER_IS_BETTER,
            absolute={'value': -configs.RMSE_MIN_IMPROVEMENT}))
    return tfma.EvalConfig(
        # transform_features gives TFMA the activity and popularity buckets to slice by.
        # model_type: TFMA would otherwise revive the Keras model twice (once only to learn
        # that it is Keras); the signatures are all it calls.
        model_specs=[tfma.ModelSpec(signature_name='serving_default', label_key=features.LABEL,
                                    model_type=configs.EVAL_MODEL_TYPE,
                                    preprocessing_function_names=['transform_features'],
                                    inference_batch_size=configs.EVAL_BATCH_SIZE)],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[key])
                                              for key in slices],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            # The gate applies to the whole test split; slices are reported, not gated, since
            # a small slice's RMSE is too noisy to decide on. Ours, not Keras's, and it also
            # reports the mean absolute error and the example count: see metrics.py.
            tfma.MetricConfig(
                class_name=metrics.RootMeanSquaredError.__name__, module=metrics.__name__,
                per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                    slicing_specs=[tfma.SlicingSpec()], threshold=rmse_threshold)]),
        ])],
        # The metrics above are all we need; TFMA's default would re-run the Keras model's
        # own compiled metrics, which expect transformed inputs rather than raw examples.
        options=tfma.Options(include_default_metrics={'value': False}))


def create_pipeline(
        pipeline_root: str,
        data_path: str,
        serving_model_dir: str,
        hyperparameters: Dict[str, Any],
        source: str = configs.DEFAULT_SOURCE,
        tfds_name: str = configs.DEFAULT_TFDS_NAME,
        predefined_split: Optional[str] = None,
        skip_bad_rows: bool = False,
        train_steps: Optional[int] = None,
        rmse_upper_bound: float = configs.RMSE_UPPER_BOUND,
        schema_file: str = configs.SCHEMA_FILE,
        metadata_connection_config=None,
        beam_pipeline_args: Optional[List[str]] = None,
        enable_cache: bool = True,
        pipeline_name: str = configs.PIPELINE_NAME,
        baseline_strategy: Type[ResolverStrategy] = LatestBlessedOtherModelStrategy,
) -> tfx_pipeline.Pipeline:
    """ExampleGen -> statistics, schema, validation -> Transform -> Trainer -> Evaluator
    (against the last blessed model) -> Pusher.

    baseline_strategy: by default the last blessed model other than the candidate, so that
    an unchanged rerun is served from the cache; kubeflow_runner.py passes TFX's
    LatestBlessedModelStrategy, the only one KubeflowV2DagRunner compiles (see
    components/baseline_resolver.py).
    """
    example_gen = MovieLensExampleGen(
        data_path=data_path, source=source, tfds_name=tfds_name,
        predefined_split=predefined_split, skip_bad_rows=skip_bad_rows,
        split_buckets=configs.SPLIT_BUCKETS)
    statistics_gen = StatisticsGen(examples=example_gen.outputs['examples'])
    schema_gen = ImportSchemaGen(schema_file=schema_file)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])
    anomaly_gate = AnomalyGate(anomalies=example_validator.outputs['anomalies'],
                               schema=schema_gen.outputs['schema'])
    transform = Transform(
        examples=example_gen.outputs['examples'],
        schema=anomaly_gate.outputs['validated_schema'],
        preprocessing_fn=configs.PREPROCESSING_FN,
        # Transform only analyzes (the vocabularies, ...): the Trainer applies its graph as it
        # reads each split once into memory, and the Evaluator's serving signature applies it
        # to raw test examples, so transformed copies of the splits would be written for
        # nothing.
        splits_config=transform_pb2.SplitsConfig(analyze=[features.TRAIN_SPLIT]),
        materialize=False,
        # StatisticsGen already describes the raw data; Transform's own pre- and
        # post-transform statistics would double the cost of this component.
        disable_statistics=True,
        force_tf_compat_v1=configs.TRANSFORM_FORCE_TF_COMPAT_V1,
        disable_analyzer_cache=configs.TRANSFORM_DISABLE_ANALYZER_CACHE,
        # Not read by preprocessing_fn: it makes an edit of the code a cache miss.
        custom_config={'source': source_fingerprint.transform_source()})
    trainer = Trainer(
        run_fn=configs.RUN_FN,
        examples=example_gen.outputs['examples'],
        transform_graph=transform.outputs['transform_graph'],
        train_args=trainer_pb2.TrainArgs(splits=[features.TRAIN_SPLIT], num_steps=train_steps),
        eval_args=trainer_pb2.EvalArgs(splits=[features.EVAL_SPLIT]),
        custom_config={'hyperparameters': hyperparameters,
                       'source': source_fingerprint.trainer_source()})
    model_resolver = baseline_resolver(trainer.outputs['model'], baseline_strategy)
    evaluator = Evaluator(
        examples=example_gen.outputs['examples'],
        model=trainer.outputs['model'],
        baseline_model=model_resolver.outputs['model'],
        example_splits=[features.TEST_SPLIT],
        eval_config=eval_config(rmse_upper_bound))
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
                    transform, trainer, model_resolver, evaluator, pusher],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or configs.BEAM_PIPELINE_ARGS),
    )
