"""The MovieLens ExampleGen: a TFX component that reads MovieLens ratings into examples."""
from components.movielens.component import MovieLensExampleGen
from components.movielens.errors import BadInputError
from components.movielens.executor import SKIPPED_ROWS_PROPERTY

__all__ = ['MovieLensExampleGen', 'BadInputError', 'SKIPPED_ROWS_PROPERTY']
