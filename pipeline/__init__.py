"""The pipeline's wiring and settings: what runs when the pipeline is built or compiled."""
import models  # noqa: F401 -- Keras 2 before any TensorFlow import (models/__init__.py)
