"""The pipeline's default Beam arguments run Beam locally without fetching anything."""
import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipeline import configs


def test_default_runner_runs_locally_without_trying_prism(caplog):
    # Beam's DirectRunner would first try Prism, downloading its binary from GitHub.
    caplog.set_level(logging.INFO, logger='apache_beam')
    with beam.Pipeline(options=PipelineOptions(list(configs.BEAM_PIPELINE_ARGS))) as p:
        assert_that(p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * x),
                    equal_to([1, 4, 9]))
    assert 'prism' not in caplog.text.lower()
