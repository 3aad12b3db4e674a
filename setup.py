"""Packages the pipeline code, so that Beam workers (--setup_file) and the Kubeflow image import it.

Dependencies are pinned in requirements.lock, which the image and `make` install first.
"""
import setuptools

setuptools.setup(
    name='movielens-ranking-pipeline',
    version='0.1.0',
    description='A TFX pipeline that trains, validates and serves the TFRS movie ranking model.',
    python_requires='>=3.10,<3.11',
    packages=setuptools.find_packages(include=['pipeline', 'pipeline.*', 'components',
                                               'components.*', 'models', 'models.*']),
    # The curated schemas, which CuratedSchemaGen copies at run time.
    package_data={'components': ['schemas/*.pbtxt']},
)
