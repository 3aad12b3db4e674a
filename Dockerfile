# The image of every pipeline component on Vertex AI / Kubeflow Pipelines, and of the
# Dataflow workers (--sdk_container_image): TFX 1.16, the locked dependencies, and this
# project installed as a package, so that the dotted paths the pipeline names import.
#
#   docker build -t REGISTRY/movielens-ranking:TAG .
#
# TFX_VERSION and BEAM_VERSION must equal the tfx and apache-beam pins of requirements.lock;
# tests/test_kubeflow_runner.py checks that they do.
ARG TFX_VERSION=1.16.0
ARG BEAM_VERSION=2.74.0

# Dataflow starts each worker with Beam's boot program from /opt/apache/beam, which must
# come from the same Beam release as the SDK installed below.
FROM apache/beam_python3.10_sdk:${BEAM_VERSION} AS beam

FROM gcr.io/tfx-oss-public/tfx:${TFX_VERSION}

# TFX, TFT, TFMA and TFRS need Keras 2; TensorFlow 2.16 reads this when it is imported,
# in the components and in the Dataflow workers alike.
ENV TF_USE_LEGACY_KERAS=1

# The lock is resolved for Python 3.10 only; fail here rather than with an import error
# in the middle of a run.
RUN python -c "import sys; v = sys.version_info[:2]; assert v == (3, 10), \
    f'requirements.lock needs Python 3.10, the base image has {v}'"

COPY --from=beam /opt/apache/beam /opt/apache/beam

WORKDIR /pipeline

# The exact versions every machine uses. --no-deps: the lock is already the full closure,
# and pip must not re-resolve it against what the base image happens to hold.
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir --no-deps -r requirements.lock

# The project, installed as a package (not only present in the working directory), so that
# Dataflow workers, whose working directory is elsewhere, import it too, and with it the
# curated schemas (package data of components/).
COPY setup.py ./
COPY pipeline pipeline
COPY components components
COPY models models
RUN python -m pip install --no-cache-dir --no-deps --no-build-isolation . \
    && rm -rf build *.egg-info

# Every dotted path the compiled pipelines name, the module every task runs on open-source
# KFP (kubeflow_runner.KFP_COMMAND), and every curated schema, read from the installed
# package (from /, where the sources are not on sys.path): a broken image fails here, not in
# a run.
RUN cd / && python -c "\
from components.anomaly_gate import AnomalyGate_Executor; \
from components.atomic_pusher import AtomicPushExecutor; \
from components.batched_reads import StatisticsGenExecutor; \
from components.batched_reads import TransformExecutor; \
from components.batched_reads import EvaluatorExecutor; \
from components.curated_schema import CuratedSchemaGen_Executor; \
from components import curated_schema; \
from components.movielens.executor import Executor; \
from components.served_baseline import LatestServedModel_Executor; \
from components.served_baseline import ServedBaselineEvaluatorExecutor; \
from models.preprocessing import preprocessing_fn; \
from models.ranking.trainer import run_fn; \
import components.kfp_entrypoint; \
import pipeline.pipeline; \
[curated_schema.load(data_format) for data_format in curated_schema.SCHEMA_FILES]"

# The base image's entry point, Beam's boot program, stays: Dataflow needs it, and
# Kubeflow and Vertex AI give every component its own command: `python -m` TFX's
# entrypoint on Vertex AI, components.kfp_entrypoint on open-source KFP, run in WORKDIR.
