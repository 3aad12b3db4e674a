"""The MovieLens ExampleGen: a TFX component that reads MovieLens ratings into examples.

component.py is the component, executor.py its Beam executor, grouplens.py and
tfds_source.py the readers, contract.py the names other code uses.
"""
