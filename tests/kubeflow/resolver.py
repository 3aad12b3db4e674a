"""Vertex AI's answer to a resolver task, from the harness's metadata store.

TFX compiles its LatestBlessedModelStrategy into two queries of ML Metadata, each a
filter such as `schema_title="tfx.ModelBlessing" AND state=LIVE AND
metadata.blessed.number_value=1`, the second naming the model by a placeholder over the
first one's answer. Vertex AI runs them (closed source); the harness evaluates the same
filters: each output is the newest artifact that satisfies every clause, or nothing.
"""
import re
from typing import Callable, Dict, List

from tests.kubeflow.metadata import Artifact, Store

_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.artifacts\['(\w+)'\]\.metadata\['(\w+)'\]\}\}")
_CLAUSE = re.compile(r'(schema_title|state|name|metadata\.(\w+)\.number_value)=(.+)')


def _unquoted(value: str) -> str:
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value


def _clause_test(clause: str, artifact_name: Callable[[Artifact], str]):
    match = _CLAUSE.fullmatch(clause.strip())
    if not match:
        raise NotImplementedError(f'Resolver filter clause {clause!r}: the harness answers '
                                  'only the clauses that TFX compiles; add this one.')
    field, metadata_key, value = match.group(1), match.group(2), _unquoted(match.group(3))
    if field == 'schema_title':
        return lambda artifact: artifact.schema_title == value
    if field == 'state':
        # Only artifacts of tasks that succeeded are recorded: all are LIVE.
        return lambda artifact: value == 'LIVE'
    if field == 'name':
        return lambda artifact: artifact_name(artifact) == value
    return lambda artifact: artifact.metadata.get(metadata_key) == float(value)


def answer(resolver_spec: dict, inputs: Dict[str, List[Artifact]], store: Store,
           artifact_name: Callable[[Artifact], str]) -> Dict[str, List[Artifact]]:
    """The resolver's output artifacts, by key, given its input artifacts."""
    outputs = {}
    for key, query in resolver_spec['outputArtifactQueries'].items():
        text = query['filter']
        unresolved = False
        for input_key, metadata_key in _PLACEHOLDER.findall(text):
            if not inputs.get(input_key):
                unresolved = True  # the query depends on an answer that was empty
                continue
            value = inputs[input_key][0].metadata[metadata_key]
            text = text.replace(
                f"{{{{$.inputs.artifacts['{input_key}'].metadata['{metadata_key}']}}}}",
                str(value))
        if unresolved:
            outputs[key] = []
            continue
        tests = [_clause_test(clause, artifact_name) for clause in text.split(' AND ')]
        newest = store.newest(lambda artifact: all(test(artifact) for test in tests))
        outputs[key] = [newest] if newest else []
    return outputs
