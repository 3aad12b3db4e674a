"""CuratedSchemaGen: the curated schema of the release that the ExampleGen read.

The schema follows the data. A release with user features (100K, 1M) must have them on
every example, and one without (10M, the CSV family) must have none; the rating's domain is
the release's own scale. Which release it is becomes known only when the ExampleGen looks at
the files (a gs:// path cannot be read where the pipeline is compiled), so this component
reads the Examples' `format` property at run time and copies the matching curated schema.
The schemas ship with this package, in components/schemas/, and so in the image: TFX's
ImportSchemaGen would need one file's path at compile time.
"""
import hashlib
import os

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.schema_gen import executor as schema_gen_executor
from tfx.dsl.component.experimental.annotations import (InputArtifact, OutputArtifact,
                                                         Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from components.movielens import contract

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'schemas')
# The curated schema of each format, a file in SCHEMA_DIR: one per family of releases.
SCHEMA_FILES = {
    contract.FORMAT_100K: 'with_users_whole_stars.pbtxt',
    contract.FORMAT_1M: 'with_users_whole_stars.pbtxt',
    contract.FORMAT_10M: 'no_users_half_stars.pbtxt',
    contract.FORMAT_CSV: 'no_users_half_stars.pbtxt',
}
# String custom property of the Schema artifact: the curated schema it is a copy of, as a
# path in this repository, for messages.
SOURCE_PROPERTY = 'curated_schema'


def schema_path(data_format: str) -> str:
    """The curated schema file of a format (one of contract.FORMATS)."""
    if data_format not in SCHEMA_FILES:
        raise ValueError(f'no curated schema for format {data_format!r}; the formats are '
                         f'{", ".join(SCHEMA_FILES)}')
    return os.path.join(SCHEMA_DIR, SCHEMA_FILES[data_format])


def source_name(data_format: str) -> str:
    """The schema's path in this repository, as messages name it."""
    return f'components/schemas/{SCHEMA_FILES[data_format]}'


def load(data_format: str) -> schema_pb2.Schema:
    return io_utils.parse_pbtxt_file(schema_path(data_format), schema_pb2.Schema())


def schemas_fingerprint() -> str:
    """A hash of every curated schema: passed to the component as a parameter, so that an
    edited schema is a new execution rather than a cache hit."""
    digest = hashlib.sha256()
    for name in sorted(set(SCHEMA_FILES.values())):
        with open(os.path.join(SCHEMA_DIR, name), 'rb') as f:
            digest.update(name.encode() + b'\0' + f.read() + b'\0')
    return digest.hexdigest()[:16]


@component
def CuratedSchemaGen(
        examples: InputArtifact[standard_artifacts.Examples],
        schema: OutputArtifact[standard_artifacts.Schema],
        fingerprint: Parameter[str]):
    """Copies the curated schema of the examples' format to `schema`.

    fingerprint: schemas_fingerprint() where the pipeline is compiled; not read here.
    """
    data_format = examples.get_string_custom_property(contract.FORMAT_PROPERTY)
    if data_format not in SCHEMA_FILES:
        raise ValueError(
            f'the Examples at {examples.uri} have format {data_format!r}, not one of '
            f'{", ".join(SCHEMA_FILES)}: CuratedSchemaGen reads the examples of '
            'MovieLensExampleGen, which records the format. Rerun with --no-cache if they '
            'are from an older version of it.')
    io_utils.copy_file(schema_path(data_format),
                       os.path.join(schema.uri, schema_gen_executor.DEFAULT_FILE_NAME))
    schema.set_string_custom_property(SOURCE_PROPERTY, source_name(data_format))
