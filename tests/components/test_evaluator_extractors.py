"""The Evaluator's batched slicing against TFMA's own per-example slicing, on hand-built
batches of every shape TFMA hands an extractor: the same slices, each with the same rows."""
import numpy as np
import pyarrow as pa
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.api import types
from tensorflow_model_analysis.extractors import slice_key_extractor
from tensorflow_model_analysis.slicer import slicer_lib
from tensorflow_model_analysis.utils import util

from components import evaluator_extractors
from pipeline import configs
from pipeline import pipeline as pipeline_module

ROWS = 6
LABELS = np.arange(ROWS, dtype=np.float32).reshape(-1, 1)  # row i has label i


def batch(features, transformed=None, models=('',)):
    """A batched extract as TFMA's extractors leave it before unbatching."""
    extract = {constants.FEATURES_KEY: features, constants.LABELS_KEY: LABELS,
               constants.PREDICTIONS_KEY: LABELS + 0.5, constants.EXAMPLE_WEIGHTS_KEY: None}
    if transformed is not None:
        extract[constants.TRANSFORMED_FEATURES_KEY] = transformed
    if models != ('',):
        extract[constants.LABELS_KEY] = {name: LABELS for name in models}
        extract[constants.PREDICTIONS_KEY] = {name: LABELS + 0.5 for name in models}
    return extract


def config(*feature_keys, models=('',)):
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(name=name) for name in models],
        slicing_specs=[tfma.SlicingSpec(feature_keys=list(keys)) for keys in feature_keys])


def tfmas_slices(extract, eval_config):
    """{slice key: sorted rows} as TFMA's UnbatchExtractor and SliceKeyExtractor find them."""
    specs = [slicer_lib.SingleSliceSpec(spec=spec) for spec in eval_config.slicing_specs]
    slicer = slice_key_extractor.ExtractSliceKeysFn(eval_config, materialize=False)
    found = {}
    for example in util.split_extracts(extract):
        [sliced] = slicer.process(example, specs)
        for slice_key in sliced[constants.SLICE_KEY_TYPES_KEY]:
            found.setdefault(slice_key, []).extend(row_labels(example[constants.LABELS_KEY]))
    return {key: sorted(rows) for key, rows in found.items()}


def row_labels(labels):
    """The rows an extract holds, by their labels (the first model's, with several)."""
    if isinstance(labels, dict):
        labels = next(iter(labels.values()))
    return [int(label) for label in np.asarray(labels).reshape(-1)]


def our_slices(extract, eval_config):
    """{slice key: sorted rows} of SliceBatchFn's extracts, which must carry one slice each."""
    found = {}
    for sliced in evaluator_extractors.SliceBatchFn(eval_config).process(extract):
        [slice_key] = sliced[constants.SLICE_KEY_TYPES_KEY]
        assert slice_key not in found, f'{slice_key} twice'
        assert set(sliced) == {constants.LABELS_KEY, constants.PREDICTIONS_KEY,
                               constants.EXAMPLE_WEIGHTS_KEY, constants.SLICE_KEY_TYPES_KEY}
        labels, predictions = sliced[constants.LABELS_KEY], sliced[constants.PREDICTIONS_KEY]
        if isinstance(labels, dict):
            labels, predictions = labels[next(iter(labels))], predictions[next(iter(labels))]
        np.testing.assert_array_equal(predictions, labels + 0.5)  # rows stay aligned
        found[slice_key] = sorted(row_labels(labels))
    return found


def same_as_tfma(extract, eval_config):
    ours = our_slices(extract, eval_config)
    assert ours == tfmas_slices(extract, eval_config)
    return ours


GENDER = np.array([[b'F'], [b'M'], [b'F'], [b'M'], [b'F'], [b'F']], dtype=object)
AGE = np.array([18, 25, 18, 56, 25, 18])


def test_dense_text_and_numbers_and_the_whole_batch():
    slices = same_as_tfma(batch({'user_gender': GENDER, 'age': AGE}),
                          config((), ('user_gender',), ('age',)))
    assert slices[()] == list(range(ROWS))
    assert slices[(('user_gender', 'F'),)] == [0, 2, 4, 5]  # bytes become text, as in TFMA
    assert slices[(('age', 56),)] == [3]
    assert all(type(value) is int for slice_key in slices for key, value in slice_key
               if key == 'age')


def test_several_values_per_example_and_empty_rows():
    genres = types.VarLenTensorValue(
        values=np.array([b'Drama', b'Comedy', b'Drama', b'War'], dtype=object),
        indices=np.array([[0, 0], [0, 1], [2, 0], [5, 0]]), dense_shape=np.array([ROWS, 2]))
    slices = same_as_tfma(batch({'genres': genres, 'pair': np.array([[1, 2]] * ROWS)}),
                          config(('genres',), ('pair',)))
    assert slices[(('genres', 'Drama'),)] == [0, 2]
    # A row without genres is in no genre slice.
    assert all(1 not in rows for slice_key, rows in slices.items() if slice_key[0][0] == 'genres')
    assert slices[(('pair', 1),)] == slices[(('pair', 2),)] == list(range(ROWS))


def test_transformed_features_first_pooled_over_models_then_raw():
    models = (tfma.CANDIDATE_KEY, tfma.BASELINE_KEY)
    bucket = {tfma.CANDIDATE_KEY: {'bucket': np.array([b'a', b'a', b'b', b'b', b'a', b'b'],
                                                      dtype=object)},
              tfma.BASELINE_KEY: {'bucket': np.array([b'a', b'c', b'b', b'b', b'a', b'b'],
                                                     dtype=object),
                                  'rating': LABELS}}
    extract = batch({'bucket': np.array([b'raw'] * ROWS, dtype=object), 'user_gender': GENDER},
                    transformed=bucket, models=models)
    slices = same_as_tfma(extract, config((), ('bucket',), ('user_gender',), models=models))
    assert slices[(('bucket', 'c'),)] == [1]  # the baseline's bucket counts too, as in TFMA
    assert (('bucket', 'raw'),) not in slices
    assert slices[(('user_gender', 'M'),)] == [1, 3]


def test_crosses_missing_features_and_repeated_specs():
    slices = same_as_tfma(batch({'user_gender': GENDER, 'age': AGE}),
                          config(('user_gender', 'age'), ('age',), ('age',), ('occupation',)))
    assert slices[(('age', 18), ('user_gender', 'F'))] == [0, 2, 5]
    assert slices[(('age', 18),)] == [0, 2, 5]  # once, though two specs make it
    assert not any(key == 'occupation' for slice_key in slices for key, _ in slice_key)


def test_sparse_features_nulls_and_types_pooled_over_models():
    models = (tfma.CANDIDATE_KEY, tfma.BASELINE_KEY)
    tags = types.SparseTensorValue(
        values=np.array([b'x', b'y', b'x'], dtype=object),
        indices=np.array([[0, 0], [3, 0], [3, 1]]), dense_shape=np.array([ROWS, 2]))
    nulls = np.array([None] * ROWS, dtype=object)
    transformed = {tfma.CANDIDATE_KEY: {'b': np.array([1, 2, 1, 2, 1, 2])},
                   tfma.BASELINE_KEY: {'b': np.array([1.0, 2.0, 1.0, 2.0, 1.0, 3.0])}}
    slices = same_as_tfma(batch({'tags': tags, 'nothing': nulls}, transformed=transformed,
                                models=models),
                          config(('tags',), ('nothing',), ('b',), ('b', 'b'), models=models))
    assert slices[(('tags', 'x'),)] == [0, 3]
    assert all(type(value) is float for slice_key in slices for key, value in slice_key
               if key == 'b')  # an int and a float model: TFMA's pooled array is float


def test_an_empty_batch_has_no_slices():
    empty = {constants.FEATURES_KEY: {'age': np.zeros(0, dtype=np.int64)},
             constants.LABELS_KEY: np.zeros((0, 1)), constants.PREDICTIONS_KEY: np.zeros((0, 1))}
    assert list(evaluator_extractors.SliceBatchFn(config((), ('age',))).process(empty)) == []


def test_the_pipelines_config_slices_batches_and_others_keep_tfmas_extractors():
    pipeline_config = pipeline_module.eval_config(None, configs.RMSE_MIN_IMPROVEMENT,
                                                  configs.SLICES, 64)
    assert evaluator_extractors.slices_batches(pipeline_config)
    weighted = tfma.EvalConfig()
    weighted.CopyFrom(pipeline_config)
    weighted.model_specs[0].example_weight_key = 'weight'
    keras_too = tfma.EvalConfig()
    keras_too.CopyFrom(pipeline_config)
    keras_too.metrics_specs[0].metrics.add(class_name='MeanSquaredError')
    by_value = tfma.EvalConfig()
    by_value.CopyFrom(pipeline_config)
    by_value.slicing_specs.add(feature_values={'user_gender': 'F'})
    intervals = tfma.EvalConfig()
    intervals.CopyFrom(pipeline_config)
    intervals.options.compute_confidence_intervals.value = True
    for other in (weighted, keras_too, by_value, intervals, None):
        assert not evaluator_extractors.slices_batches(other)


@pytest.mark.parametrize('value', [b'\xff'])
def test_a_value_that_is_not_text_is_named(value):
    with pytest.raises(ValueError, match='user_gender'):
        our_slices(batch({'user_gender': np.array([[value]] * ROWS, dtype=object)}),
                   config(('user_gender',)))


def record_batch(ids, **columns):
    return {constants.ARROW_RECORD_BATCH_KEY: pa.RecordBatch.from_pydict(
        {'user_id': pa.array([[str(i).encode()] for i in ids]), **columns})}


def test_input_batches_are_joined_in_order():
    [merged] = evaluator_extractors.merged_inputs(
        [record_batch([1, 2]), record_batch([3]), record_batch([4, 5, 6])])
    assert merged[constants.ARROW_RECORD_BATCH_KEY].to_pydict()['user_id'] == \
        [[str(i).encode()] for i in range(1, 7)]


def test_inputs_that_do_not_join_pass_as_they_are():
    other_schema = [record_batch([1]), record_batch([2], age=pa.array([[18]]))]
    more_than_a_batch = [record_batch([1]), dict(record_batch([2]), input=b'')]
    for inputs in (other_schema, more_than_a_batch, [record_batch([1])]):
        assert list(evaluator_extractors.merged_inputs(inputs)) == inputs


def test_the_pipelines_extractors_merge_to_the_inference_batch_size():
    # The pipeline's config without its thresholds, which TFMA checks against a baseline.
    unguarded = pipeline_module.eval_config(None, configs.RMSE_MIN_IMPROVEMENT,
                                            configs.SLICES, 64)
    for metric in unguarded.metrics_specs[0].metrics:
        metric.ClearField('per_slice_thresholds')
    extractors = evaluator_extractors.custom_extractors(None, unguarded)
    names = [extractor.stage_name for extractor in extractors]
    assert names[0] == 'MergeInputBatches'
    assert names[-1] == slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME
    assert 'ExtractUnbatchedInputs' not in names
