"""Files on this machine or behind a URI (gs://bucket/..., s3://...), read the same way.

Local paths go through Python's own file functions, the fastest; URIs through tf.io.gfile,
which is imported only when a URI is met, so that a command line that never sees one does
not wait for TensorFlow.
"""
import os
from typing import BinaryIO, List


def is_uri(path: str) -> bool:
    """Whether the path names a remote file system, which only tf.io.gfile can read."""
    return '://' in path


def _gfile():
    import tensorflow as tf
    return tf.io.gfile


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_uri(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_uri(path) else os.path.isdir(path)


def listdir(path: str) -> List[str]:
    """The names in a folder, without the trailing '/' that gfile gives sub-folders."""
    names = _gfile().listdir(path) if is_uri(path) else os.listdir(path)
    return [name.rstrip('/') for name in names]


def open_binary(path: str) -> BinaryIO:
    return _gfile().GFile(path, 'rb') if is_uri(path) else open(path, 'rb')


def join(base: str, *names: str) -> str:
    """os.path.join for local paths, '/' for URIs whatever the local separator."""
    if is_uri(base):
        return '/'.join([base.rstrip('/'), *names])
    return os.path.join(base, *names)
