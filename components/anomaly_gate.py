"""AnomalyGate: stops the pipeline when ExampleValidator found anomalies.

ExampleValidator only records anomalies; TFX runs Transform and Trainer regardless. This
component sits between them: it passes the schema on to Transform only when every split is
clean, and otherwise fails the run with the anomalies in words.
"""
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

ANOMALIES_FILE = 'SchemaDiff.pb'  # what ExampleValidator writes in each split's folder


class DataAnomaliesError(RuntimeError):
    """The examples do not match the curated schema; nothing downstream may use them."""


def describe_anomalies(artifact: standard_artifacts.ExampleAnomalies, split_names) -> list:
    """One line per anomaly: split, feature, and TFDV's own description."""
    lines = []
    for split in split_names:
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(io_utils.read_bytes_file(path))
        for feature, info in sorted(anomalies.anomaly_info.items()):
            lines.append(f'{split}: feature {feature!r}: {info.short_description}. '
                         f'{info.description}')
        if anomalies.HasField('dataset_anomaly_info'):
            info = anomalies.dataset_anomaly_info
            lines.append(f'{split}: dataset: {info.short_description}. {info.description}')
    return lines


@component
def AnomalyGate(
        anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
        schema: InputArtifact[standard_artifacts.Schema],
        validated_schema: OutputArtifact[standard_artifacts.Schema]):
    """Copies `schema` to `validated_schema` if there are no anomalies, else raises."""
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    problems = describe_anomalies(anomalies, splits)
    if problems:
        raise DataAnomaliesError(
            'The examples do not match the schema (pipeline/schema/schema.pbtxt); '
            'nothing was trained or pushed.\n  ' + '\n  '.join(problems) +
            '\nFix the data, or, if the change is intended, update the schema.')
    # fileio, not shutil: on Kubeflow the artifacts live in a bucket.
    for name in fileio.listdir(schema.uri):
        fileio.copy(os.path.join(schema.uri, name), os.path.join(validated_schema.uri, name))
