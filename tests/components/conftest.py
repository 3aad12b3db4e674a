"""Fixtures shared by the component tests."""
import pytest

from components import batched_reads


@pytest.fixture
def batched_sources(monkeypatch):
    """The BatchedTFExampleRecord readers whose Beam source a test's pipeline built, in order:
    proof that a component read through the batched reader."""
    readers = []
    beam_source = batched_reads.BatchedTFExampleRecord.BeamSource

    def recorded(reader, *args, **kwargs):
        readers.append(reader)
        return beam_source(reader, *args, **kwargs)

    monkeypatch.setattr(batched_reads.BatchedTFExampleRecord, 'BeamSource', recorded)
    return readers
