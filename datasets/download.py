"""Downloads the official GroupLens MovieLens zips, checks them, and caches them.

tf.keras.utils.get_file does the download, the cache and the checksum; this module adds the
known checksums and errors that say what to do, above all on a machine without internet.
The checksums are the ones TFDS records for the same files
(tensorflow_datasets/url_checksums/movielens.txt).
"""
import hashlib
import os
from typing import Optional

from components.movielens.errors import BadInputError, DATA_DIR_FLAG

_BASE_URL = 'https://files.grouplens.org/datasets/movielens'
# The sha256 of each variant's zip: the releases whose checksums TFDS records. (ml-10m,
# ml-32m and ml-latest are not among them: pass a copy with --data-dir.)
VARIANTS = {
    'ml-100k': '50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229',
    'ml-1m': 'a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20',
    'ml-20m': '96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3',
    'ml-25m': '8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa',
    'ml-latest-small': '696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436',
}


def fetch_grouplens(cache_dir: str, variant: str = 'ml-100k', *, url: Optional[str] = None,
                    sha256: Optional[str] = None) -> str:
    """The path of `variant`.zip in cache_dir, downloaded first unless a copy with the right
    checksum is there already.

    url and sha256 replace the official ones (a mirror, or a test).
    """
    if variant not in VARIANTS:
        raise BadInputError(f'MovieLens variant {variant!r} is not one of '
                            f'{", ".join(VARIANTS)}, whose checksums are known. Download it '
                            f'yourself and pass it with {DATA_DIR_FLAG}.')
    import tensorflow as tf

    url = url or f'{_BASE_URL}/{variant}.zip'
    sha256 = sha256 or VARIANTS[variant]
    cache_dir = os.path.abspath(cache_dir)
    path = os.path.join(cache_dir, f'{variant}.zip')
    # Made first: get_file falls back to /tmp/.keras for a cache dir it cannot write yet.
    os.makedirs(cache_dir, exist_ok=True)
    try:
        return os.path.normpath(tf.keras.utils.get_file(
            f'{variant}.zip', origin=url, file_hash=sha256, cache_dir=cache_dir,
            cache_subdir='.'))
    except ValueError as error:  # get_file's word for a checksum that does not match
        digest = _sha256(path) if os.path.exists(path) else 'unknown'
        _remove(path)
        raise BadInputError(
            f'{url} arrived with sha256 {digest}, not the expected {sha256}: the download is '
            'corrupt or the file has changed, so it was deleted. Try again, or pass a copy '
            f'you trust with {DATA_DIR_FLAG}.') from error
    # get_file wraps a failed fetch (offline, refused, 404) in a bare Exception, and has
    # already deleted the partial file.
    except Exception as error:  # noqa: BLE001 -- re-raised as the error a user can act on
        _remove(path)
        raise BadInputError(
            f'could not download {url} ({error}). If this machine is offline, fetch '
            f'{variant}.zip elsewhere and pass it, or its unzipped folder, with '
            f'{DATA_DIR_FLAG}.') from error


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
