"""What surrounds a local run: its lock, progress and logs, the one reader of what it recorded,
and its summary."""
import models  # noqa: F401 -- Keras 2 before any TensorFlow import (models/__init__.py)
