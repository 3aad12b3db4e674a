"""Everything that becomes TensorFlow graph: feature names, preprocessing, the ranking model.

TFX 1.16, tf.Transform, TFMA and TFRS need Keras 2 (the tf_keras package), which TensorFlow
2.16 loads only if TF_USE_LEGACY_KERAS is set before TensorFlow is first imported. This is
the one place that sets it: every other package of the project imports this one first, and
every entry point imports project code before TensorFlow.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
