"""Directory markers under a task's gs:// outputs, removed; on a stand-in for GCS's listing
(the real bucket is not reachable from here)."""
import pytest

from components import gcs_markers


class FakeBlob:
    def __init__(self, bucket, name, size):
        self.bucket, self.name, self.size = bucket, name, size

    def delete(self):
        self.bucket.objects.remove(self)


class FakeBucketClient:
    """google.cloud.storage.Client.list_blobs over one bucket: every object whose name
    starts with the prefix, in name order, as GCS lists without a delimiter."""

    def __init__(self, bucket_name, objects):
        self.bucket_name = bucket_name
        self.objects = [FakeBlob(self, name, size) for name, size in objects.items()]

    def list_blobs(self, bucket_name, prefix):
        assert bucket_name == self.bucket_name
        return sorted((blob for blob in self.objects if blob.name.startswith(prefix)),
                      key=lambda blob: blob.name)

    def names(self):
        return sorted(blob.name for blob in self.objects)


MODEL = 'root/movielens-ranking/run/Trainer/1f2e/model'
# What TensorFlow's GCS file system leaves when the Trainer saves its model.
TRAINER_OUTPUT = {
    f'{MODEL}/': 0,
    f'{MODEL}/Format-Serving/': 0,
    f'{MODEL}/Format-Serving/saved_model.pb': 5120,
    f'{MODEL}/Format-Serving/fingerprint.pb': 56,
    f'{MODEL}/Format-Serving/assets/': 0,
    f'{MODEL}/Format-Serving/assets/empty.txt': 0,  # an empty file, not a marker
    f'{MODEL}/Format-Serving/variables/': 0,
    f'{MODEL}/Format-Serving/variables/variables.index': 300,
    f'{MODEL}_run/': 0,  # another output, whose name starts the same
    f'{MODEL}_run/logs/events': 700,
}


def test_markers_at_and_under_the_output_go_and_everything_else_stays():
    client = FakeBucketClient('bucket', TRAINER_OUTPUT)

    removed = gcs_markers.remove_directory_markers(f'gs://bucket/{MODEL}', client)

    assert removed == [f'{MODEL}/', f'{MODEL}/Format-Serving/',
                       f'{MODEL}/Format-Serving/assets/', f'{MODEL}/Format-Serving/variables/']
    assert client.names() == sorted([
        f'{MODEL}/Format-Serving/saved_model.pb', f'{MODEL}/Format-Serving/fingerprint.pb',
        f'{MODEL}/Format-Serving/assets/empty.txt',
        f'{MODEL}/Format-Serving/variables/variables.index',
        f'{MODEL}_run/', f'{MODEL}_run/logs/events'])


def test_a_trailing_slash_in_the_uri_names_the_same_output():
    client = FakeBucketClient('bucket', TRAINER_OUTPUT)
    assert gcs_markers.remove_directory_markers(f'gs://bucket/{MODEL}/', client) == [
        f'{MODEL}/', f'{MODEL}/Format-Serving/', f'{MODEL}/Format-Serving/assets/',
        f'{MODEL}/Format-Serving/variables/']


@pytest.mark.parametrize('uri, message', [
    ('gs://bucket', 'names a whole bucket'),
    ('gs://bucket/', 'names a whole bucket'),
    ('/local/root/model', 'is not a gs:// URI'),
    ('s3://bucket/model', 'is not a gs:// URI'),
])
def test_refuses_what_is_not_an_artifact_in_gcs(uri, message):
    client = FakeBucketClient('bucket', TRAINER_OUTPUT)
    with pytest.raises(ValueError, match=message):
        gcs_markers.remove_directory_markers(uri, client)
    assert len(client.names()) == len(TRAINER_OUTPUT)
