"""The run report: collect what a run recorded, draw the figures, render the page."""
import models  # noqa: F401 -- Keras 2 before any TensorFlow import (models/__init__.py)
