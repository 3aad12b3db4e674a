"""MovieLens data acquired outside the pipeline: the GroupLens download and synthetic data."""
import models  # noqa: F401 -- Keras 2 before any TensorFlow import (models/__init__.py)
