"""The platform's ML Metadata and cache, as far as the harness needs them across tasks and
runs: the artifacts tasks recorded, in order, and the outputs of each cache key."""
import dataclasses
from typing import Callable, Dict, List, Optional


@dataclasses.dataclass
class Artifact:
    """An artifact as the platform recorded it once its task succeeded."""
    id: int  # in recording order, as MLMD's ids grow
    schema_title: str  # 'tfx.Model', ...
    uri: str
    metadata: dict  # what the executor reported, and the launcher's display_name


class Store:
    """Every recorded artifact, and the cache: a cache key's recorded outputs."""

    def __init__(self):
        self.artifacts: List[Artifact] = []
        self.cache: Dict[str, Dict[str, List[Artifact]]] = {}

    def record(self, schema_title: str, uri: str, metadata: dict) -> Artifact:
        artifact = Artifact(len(self.artifacts) + 1, schema_title, uri, dict(metadata))
        self.artifacts.append(artifact)
        return artifact

    def newest(self, matches: Callable[[Artifact], bool]) -> Optional[Artifact]:
        """The most recently recorded artifact for which matches() holds."""
        for artifact in reversed(self.artifacts):
            if matches(artifact):
                return artifact
        return None
