"""Our TFX components and the code that runs inside them: in the image, and on Beam workers."""
import models  # noqa: F401 -- Keras 2 before any TensorFlow import (models/__init__.py)
