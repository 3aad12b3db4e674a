"""Where a local run keeps everything it writes: one --output-dir, laid out as below."""
import dataclasses
import os

from pipeline import configs


@dataclasses.dataclass(frozen=True)
class OutputDir:
    path: str

    def _join(self, *names: str) -> str:
        return os.path.join(self.path, *names)

    @property
    def pipeline_root(self) -> str:
        """Every artifact of every run, by component and execution."""
        return self._join('pipeline_root')

    @property
    def metadata(self) -> str:
        """MLMD: the cache and the lineage of every run."""
        return self._join('metadata.sqlite')

    @property
    def serving_model(self) -> str:
        """The pushed models, in TF Serving's numbered layout."""
        return self._join(configs.SERVING_MODEL_SUBDIR)

    @property
    def summary(self) -> str:
        return self._join('run_summary.json')

    @property
    def report(self) -> str:
        """The run report's folder: index.html and its figures."""
        return self._join('report')

    @property
    def lock(self) -> str:
        """Held by the run that is using the dir."""
        return self._join('.lock')

    @property
    def downloads(self) -> str:
        return self._join('downloads')

    def synthetic_data(self, name: str) -> str:
        return self._join('synthetic-data', name)
