"""fetch_grouplens without the internet: a refused connection, and a loopback server whose
zip passes or fails the checksum."""
import functools
import hashlib
import http.server
import os
import threading

import pytest

from components.movielens.errors import BadInputError
from datasets.download import VARIANTS, fetch_grouplens


@pytest.fixture
def served_zip(tmp_path):
    """(url, sha256, bytes) of a small zip served over http on the loopback."""
    served = tmp_path / 'served'
    served.mkdir()
    content = b'PK\x05\x06' + bytes(18)  # an empty zip
    (served / 'ml-100k.zip').write_bytes(content)
    handler = functools.partial(_QuietHandler, directory=str(served))
    with http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler) as server:
        threading.Thread(target=functools.partial(server.serve_forever, poll_interval=0.05),
                         daemon=True).start()
        try:
            yield (f'http://127.0.0.1:{server.server_port}/ml-100k.zip',
                   hashlib.sha256(content).hexdigest(), content)
        finally:
            server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_offline_error_names_the_data_dir_option(tmp_path):
    cache = tmp_path / 'cache'
    with pytest.raises(BadInputError) as raised:
        fetch_grouplens(str(cache), url='http://127.0.0.1:9/ml-100k.zip')
    text = str(raised.value)
    assert text.startswith('could not download http://127.0.0.1:9/ml-100k.zip (')
    assert 'pass it, or its unzipped folder, with --data-dir' in text
    assert not os.listdir(cache)


def test_download_with_the_right_checksum_is_cached(tmp_path, served_zip):
    url, sha256, content = served_zip
    path = fetch_grouplens(str(tmp_path / 'cache'), url=url, sha256=sha256)
    assert path == str(tmp_path / 'cache' / 'ml-100k.zip')
    with open(path, 'rb') as stream:
        assert stream.read() == content
    # Cached: no second download, even from an unreachable address.
    mtime = os.stat(path).st_mtime_ns
    assert fetch_grouplens(str(tmp_path / 'cache'), url='http://127.0.0.1:9/x.zip',
                           sha256=sha256) == path
    assert os.stat(path).st_mtime_ns == mtime


def test_wrong_checksum_is_an_error_and_leaves_no_file(tmp_path, served_zip):
    url, sha256, _ = served_zip
    wrong = '0' * 64
    with pytest.raises(BadInputError, match=f'arrived with sha256 {sha256}, not the expected '
                                            f'{wrong}.*deleted.*--data-dir'):
        fetch_grouplens(str(tmp_path / 'cache'), url=url, sha256=wrong)
    assert os.listdir(tmp_path / 'cache') == []


def test_file_url(tmp_path):
    source = tmp_path / 'ml-1m.zip'
    source.write_bytes(b'not really a zip')
    sha256 = hashlib.sha256(b'not really a zip').hexdigest()
    path = fetch_grouplens(str(tmp_path / 'cache'), 'ml-1m', url=source.as_uri(), sha256=sha256)
    assert os.path.basename(path) == 'ml-1m.zip'


def test_official_checksums_are_the_ones_tfds_records():
    import tensorflow_datasets
    checksums = os.path.join(os.path.dirname(tensorflow_datasets.__file__), 'url_checksums',
                             'movielens.txt')
    with open(checksums) as stream:
        recorded = {url.rsplit('/', 1)[-1]: digest
                    for url, _, digest, *_ in (line.split('\t') for line in stream)}
    for variant, digest in VARIANTS.items():
        assert recorded[f'{variant}.zip'] == digest


def test_official_checksums_cover_the_releases_tfds_records():
    assert set(VARIANTS) == {'ml-100k', 'ml-1m', 'ml-20m', 'ml-25m', 'ml-latest-small'}


def test_unknown_variant(tmp_path):
    with pytest.raises(BadInputError, match="variant 'ml-10m' is not one of ml-100k, ml-1m, "
                                            "ml-20m, ml-25m, ml-latest-small, whose checksums "
                                            "are known.*--data-dir"):
        fetch_grouplens(str(tmp_path), 'ml-10m')
