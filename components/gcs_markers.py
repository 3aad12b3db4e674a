"""Removes the empty "directory" objects that TensorFlow leaves in a GCS output.

TensorFlow's GCS file system makes a directory by writing a zero-byte object named
'<dir>/'. The open-source KFP launcher downloads every input artifact before a task runs
and writes each object under the artifact's prefix as a file: the marker becomes a file
named <dir>, and the next object, <dir>/saved_model.pb, fails with "not a directory"
(kubeflow/pipelines#13476, open in every KFP 2.x release). GCS needs no markers, and
TensorFlow finds a directory by its prefix without one, so deleting them after the
executor loses nothing.
"""
from typing import List

GCS_SCHEME = 'gs://'


def split_gcs_uri(uri: str):
    """(bucket, object prefix without a trailing '/') of a gs:// URI."""
    if not uri.startswith(GCS_SCHEME):
        raise ValueError(f'{uri!r} is not a gs:// URI.')
    bucket, _, prefix = uri[len(GCS_SCHEME):].partition('/')
    return bucket, prefix.rstrip('/')


def remove_directory_markers(uri: str, client=None) -> List[str]:
    """Deletes the zero-byte '.../' objects at and under the gs:// URI; returns their names.

    client: a google.cloud.storage.Client, made from the pod's default credentials if None.
    """
    bucket, prefix = split_gcs_uri(uri)
    if not prefix:
        raise ValueError(f'{uri!r} names a whole bucket, not an artifact: refusing to delete '
                         'directory markers across it.')
    if client is None:
        from google.cloud import storage
        client = storage.Client()
    # A trailing '/' keeps siblings that share the name's start ('model' vs 'model_run').
    removed = []
    for blob in client.list_blobs(bucket, prefix=f'{prefix}/'):
        if blob.name.endswith('/') and blob.size == 0:
            blob.delete()
            removed.append(blob.name)
    return removed
