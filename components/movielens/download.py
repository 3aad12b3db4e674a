"""Downloads the official GroupLens MovieLens zips, checks them, and caches them.

The checksums are the ones TFDS records for the same files
(tensorflow_datasets/url_checksums/movielens.txt). A cached zip is reused, not fetched
again; a download whose checksum is wrong is deleted.
"""
import hashlib
import http.client
import os
import urllib.request
from typing import Optional

from components.movielens.errors import BadInputError, DATA_DIR_FLAG

_BASE_URL = 'https://files.grouplens.org/datasets/movielens'
# The sha256 of each variant's zip.
VARIANTS = {
    'ml-100k': '50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229',
    'ml-1m': 'a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20',
}
_READ_BYTES = 1 << 20


def fetch_grouplens(cache_dir: str, variant: str = 'ml-100k', *, url: Optional[str] = None,
                    sha256: Optional[str] = None, timeout: float = 60.0) -> str:
    """The path of `variant`.zip in cache_dir, downloaded first if it is not there.

    url and sha256 replace the official ones (a mirror, or a test).
    """
    if variant not in VARIANTS:
        raise BadInputError(f'MovieLens variant {variant!r} is not one of '
                            f'{", ".join(VARIANTS)}')
    url = url or f'{_BASE_URL}/{variant}.zip'
    sha256 = sha256 or VARIANTS[variant]
    path = os.path.join(cache_dir, f'{variant}.zip')
    if os.path.exists(path) and _sha256(path) == sha256:
        return path
    os.makedirs(cache_dir, exist_ok=True)
    partial = path + '.partial'
    try:
        digest = _download(url, partial, timeout)
    # Offline, refused, timed out, 404 (URLError is an OSError), or cut off mid-way.
    except (OSError, http.client.HTTPException) as error:
        _remove(partial)
        reason = getattr(error, 'reason', error)
        raise BadInputError(
            f'could not download {url} ({reason}). If this machine is offline, fetch '
            f'{variant}.zip elsewhere and pass it, or its unzipped folder, with '
            f'{DATA_DIR_FLAG}.') from error
    if digest != sha256:
        _remove(partial)
        raise BadInputError(
            f'{url} arrived with sha256 {digest}, not the expected {sha256}: the download is '
            'corrupt or the file has changed, so it was deleted. Try again, or pass a copy '
            f'you trust with {DATA_DIR_FLAG}.')
    os.replace(partial, path)
    return path


def _download(url: str, destination: str, timeout: float) -> str:
    """Streams url into destination; returns its sha256."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, \
            open(destination, 'wb') as output:
        while chunk := response.read(_READ_BYTES):
            digest.update(chunk)
            output.write(chunk)
    return digest.hexdigest()


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        while chunk := stream.read(_READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
