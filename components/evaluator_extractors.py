"""The Evaluator's extractors: batches as large as a model call, sliced a batch at a time.

TFMA's own extractors take the test examples in the reader's batches and then unbatch every
batch into one dict per example, find each example's slice keys in Python and fan the
example out once per slice: about six Beam elements and two dozen array conversions per test
row, most of the Evaluator's time (docs/performance.md). Here:

- MergeBatches first joins the reader's batches up to the model specs' inference_batch_size,
  which TFMA does not apply to a `tf_generic` model itself: fewer model calls, and fewer of
  the failed keyword binds TensorFlow answers TFMA's positional signature call with, whose
  message prints the whole batch when it is under a thousand rows.
- SliceBatches, in place of TFMA's UnbatchExtractor and SliceKeyExtractor, cuts a batch once
  per slice with NumPy: each slice of a batch becomes one extract that holds the slice's rows
  of what the metrics read (labels, predictions, example weights), keyed by that slice
  alone. TFMA's fan-out, combiners and writers then see a few dozen elements per batch, and
  the metric (components/rmse_metric.py) sums whole arrays.

The slices are those TFMA's SliceKeyExtractor makes: a feature is looked up in the models'
transformed features first, then in the raw ones; each of its values in an example gives
that example a slice (bytes as text); an example without the feature is in none of its
slices; a slice key counts an example once however many specs yield it. Only this
project's unweighted metrics read extracts of many examples, so any other eval_config, or a
slicing spec that asks for a value, keeps TFMA's own extractors.

TFX's Evaluator calls `custom_extractors` of the module it is given as module_path.
"""
from collections.abc import Mapping
from typing import Dict, Iterator, List, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.extractors import slice_key_extractor, unbatch_extractor
from tensorflow_model_analysis.slicer import slice_accessor, slicer_lib
from tensorflow_model_analysis.utils import util

from components import rmse_metric

# What the metrics read of an extract; features stay behind once the slices are found.
METRIC_INPUTS = (constants.LABELS_KEY, constants.PREDICTIONS_KEY,
                 constants.EXAMPLE_WEIGHTS_KEY)

SliceKey = Tuple[Tuple[str, object], ...]


def custom_extractors(eval_shared_model, eval_config: tfma.EvalConfig,
                      tensor_adapter_config=None) -> List[tfma.extractors.Extractor]:
    """TFMA's default extractors, after MergeBatches and with its per-example unbatching and
    slicing replaced by SliceBatches, where this project's metrics allow it. Called by TFX's
    Evaluator."""
    extractors = tfma.default_extractors(eval_shared_model=eval_shared_model,
                                         eval_config=eval_config,
                                         tensor_adapter_config=tensor_adapter_config)
    per_example = [unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME,
                   slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME]
    if ([extractor.stage_name for extractor in extractors[-2:]] != per_example
            or not slices_batches(eval_config)):
        return extractors
    rows = max([spec.inference_batch_size for spec in eval_config.model_specs], default=0)
    merged = [MergeBatches(rows)] if rows else []
    return merged + extractors[:-2] + [SliceBatches(eval_config)]


def MergeBatches(rows: int) -> tfma.extractors.Extractor:
    """Joins consecutive batched inputs (Arrow record batches) into batches of at most `rows`
    rows, or a single larger one."""
    return tfma.extractors.Extractor(
        stage_name='MergeInputBatches',
        ptransform=_MergeBatches(rows))


@beam.ptransform_fn
def _MergeBatches(extracts, rows: int):
    return (extracts
            | 'Batch' >> beam.BatchElements(min_batch_size=rows, max_batch_size=rows,
                                            element_size_fn=_rows_of_input)
            | 'Merge' >> beam.FlatMap(merged_inputs))


def _rows_of_input(extract) -> int:
    record_batch = extract.get(constants.ARROW_RECORD_BATCH_KEY)
    return record_batch.num_rows if record_batch is not None else 1


def merged_inputs(extracts: List[dict]) -> Iterator[dict]:
    """One extract of the inputs' record batches joined, when that is all they hold and
    their schemas agree; else the inputs as they are."""
    batches = [extract.get(constants.ARROW_RECORD_BATCH_KEY) for extract in extracts]
    if (len(extracts) < 2 or any(set(extract) != {constants.ARROW_RECORD_BATCH_KEY}
                                 for extract in extracts)
            or any(not batch.schema.equals(batches[0].schema) for batch in batches)):
        yield from extracts
        return
    table = pa.Table.from_batches(batches).combine_chunks()
    yield {constants.ARROW_RECORD_BATCH_KEY: pa.RecordBatch.from_arrays(
        [column.chunk(0) if column.num_chunks else pa.array([], column.type)
         for column in table.columns], schema=table.schema)}


def slices_batches(eval_config: tfma.EvalConfig) -> bool:
    """Whether SliceBatches can stand in for TFMA's slicing: every metric is one that sums
    arrays, no example is weighted, no confidence interval resamples examples, no slice is
    counted for a size limit, and every slicing spec names whole features."""
    if eval_config is None:
        return False
    options = eval_config.options
    return (rmse_metric.sums_arrays(eval_config)
            # Bootstrap and jackknife resample extracts, which would be slices, not examples.
            and not options.compute_confidence_intervals.value
            and options.min_slice_size.value <= 1
            and not any(spec.query_key for spec in eval_config.metrics_specs)
            and not eval_config.cross_slicing_specs
            and all(not spec.feature_values and not spec.slice_keys_sql
                    for spec in eval_config.slicing_specs))


def SliceBatches(eval_config: tfma.EvalConfig) -> tfma.extractors.Extractor:
    """The extractor, under the stage name of TFMA's slice key extractor, after which TFMA
    runs its metrics evaluator."""
    return tfma.extractors.Extractor(
        stage_name=slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME,
        ptransform=beam.ParDo(SliceBatchFn(eval_config)))


class SliceBatchFn(beam.DoFn):
    """A batched extract in, one extract per slice of its rows out."""

    def __init__(self, eval_config: tfma.EvalConfig):
        self._model_names = [spec.name for spec in eval_config.model_specs]
        specs = eval_config.slicing_specs or [tfma.SlicingSpec()]
        self._specs = [tuple(sorted(set(spec.feature_keys))) for spec in specs]

    def process(self, batch) -> Iterator[dict]:
        rows = util.batch_size(batch)
        if not rows:
            return
        for slice_key, in_slice in slice_masks(batch, self._specs, self._model_names,
                                               rows).items():
            extract = {key: take(batch[key], in_slice, rows)
                       for key in METRIC_INPUTS if key in batch}
            extract[constants.SLICE_KEY_TYPES_KEY] = slicer_lib.slice_keys_to_numpy_array(
                [slice_key])
            yield extract


def slice_masks(batch, specs: List[Tuple[str, ...]], model_names: List[str],
                rows: int) -> Dict[SliceKey, np.ndarray]:
    """{slice key: boolean mask of the batch's rows in it}, for slices with any row."""
    masks: Dict[SliceKey, np.ndarray] = {}
    columns: Dict[str, Dict[object, np.ndarray]] = {}
    for spec in specs:
        for key in spec:
            if key not in columns:
                columns[key] = value_masks(batch, key, model_names, rows)
        for slice_key, mask in _crossed(spec, columns, rows):
            if mask.any():
                masks[slice_key] = masks[slice_key] | mask if slice_key in masks else mask
    return masks


def _crossed(spec: Tuple[str, ...], columns, rows: int) -> Iterator[Tuple[SliceKey, np.ndarray]]:
    """Every combination of the spec's features' values, with the rows that have them all."""
    crossed = [((), np.ones(rows, dtype=bool))]
    for key in spec:
        crossed = [(slice_key + ((key, value),), mask & value_mask)
                   for slice_key, mask in crossed
                   for value, value_mask in columns[key].items()]
    return iter(crossed)


def value_masks(batch, key: str, model_names: List[str], rows: int) -> Dict[object, np.ndarray]:
    """{value: rows that have it} of one feature, found where TFMA looks: in every model's
    transformed features (their values pooled), else in the raw features."""
    transformed = batch.get(constants.TRANSFORMED_FEATURES_KEY) or {}
    if len(model_names) > 1:
        sources = [transformed[name] for name in model_names if name in transformed]
    else:
        sources = [transformed]
    found = [source[key] for source in sources
             if isinstance(source, Mapping) and source.get(key) is not None]
    if not found:
        raw = batch.get(constants.FEATURES_KEY) or {}
        found = [raw[key]] if raw.get(key) is not None else []
    return {slice_value(value, key): mask
            for value, mask in _pooled_value_masks(found, rows).items()}


def _dense(column, rows: int) -> bool:
    return (isinstance(column, np.ndarray) and column.ndim >= 1 and len(column) == rows
            and not (column.dtype == object and any(value is None for value in column.flat)))


def _pooled_value_masks(columns: list, rows: int) -> Dict[object, np.ndarray]:
    """{value: rows that have it} of a feature's batched columns (one per model that has
    it), each example's values pooled as TFMA concatenates them: dense arrays at NumPy
    speed, anything else (sparse, ragged, nulls) split per example as TFMA splits it."""
    if not columns or rows == 0:
        return {}
    if all(_dense(column, rows) for column in columns):
        per_row = np.concatenate([column.reshape(rows, -1) for column in columns], axis=1)
        if per_row.shape[1] == 1:
            values, inverse = np.unique(per_row[:, 0], return_inverse=True)
            return {value: inverse == index for index, value in enumerate(values.tolist())}
        return {value: (per_row == value).any(axis=1) for value in np.unique(per_row).tolist()}
    per_example = util.split_extracts({str(i): column for i, column in enumerate(columns)})
    masks: Dict[object, np.ndarray] = {}
    for row, example in enumerate(per_example):
        accessor = slice_accessor.SliceAccessor(
            [{'column': value} for value in example.values()])
        for value in accessor.get('column') if accessor.has_key('column') else ():
            masks.setdefault(value, np.zeros(rows, dtype=bool))[row] = True
    return masks


def slice_value(value, key: str):
    """A feature value as TFMA writes it in a slice key: bytes as text."""
    if isinstance(value, bytes):
        try:
            return value.decode('utf-8')
        except UnicodeDecodeError as error:
            raise ValueError(f'Found non-UTF8 feature value {value!r} in column "{key}"; '
                             'slice by a feature of text or numbers.') from error
    return value


def take(value, mask: np.ndarray, rows: int):
    """The masked rows of a batched extract's value (arrays, dicts of them); a value
    without a batch dimension as it is."""
    if isinstance(value, Mapping):
        return {key: take(item, mask, rows) for key, item in value.items()}
    if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == rows:
        return value[mask]
    if value is None or isinstance(value, (np.ndarray, float, int, np.number)) and \
            np.size(value) == 1:
        return value
    raise ValueError(f'A label, prediction or weight of type {type(value).__name__} cannot be '
                     f'cut into slices by rows; give the model dense outputs of one value per '
                     f'example, or leave the Evaluator without module_path.')
