"""The Evaluator's config: what each model gives TFMA to slice by."""
import tensorflow_model_analysis as tfma

from models import features
from models.ranking import signatures
from pipeline import configs
from pipeline import pipeline


def test_only_the_candidate_gives_tfma_the_features_transform_makes_for_slicing():
    config = pipeline.eval_config(None, configs.RMSE_MIN_IMPROVEMENT, configs.SLICES,
                                  configs.EVAL_BATCH_SIZE)
    specs = {spec.name: spec for spec in config.model_specs}
    # The candidate's buckets alone: TFMA slices by every model's, so an example whose
    # bucket differs between the two models would count in two slices.
    assert list(specs[tfma.CANDIDATE_KEY].preprocessing_function_names) == [
        signatures.TRANSFORM_FEATURES]
    baseline_outputs = signatures.CONTRACT[
        specs[tfma.BASELINE_KEY].preprocessing_function_names[0]][1]
    assert baseline_outputs and not set(baseline_outputs) & set(features.TRANSFORMED_SLICES)
    # The buckets Transform makes for slicing are sliced by.
    assert set(features.TRANSFORMED_SLICES) <= {
        key for spec in config.slicing_specs for key in spec.feature_keys}
