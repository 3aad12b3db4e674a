"""The GroupLens MovieLens releases: which files each holds, and how to tell them apart.

The release is detected from the names of the files in a folder, never from a flag: a user
points --data-dir at what GroupLens ships, and the reader knows what it is.
"""
import dataclasses
from typing import Collection, Optional, Tuple

from components.movielens import contract
from components.movielens.errors import BadInputError, DATA_DIR_FLAG


@dataclasses.dataclass(frozen=True)
class Release:
    """The file layout of one release format."""
    format: str  # one of contract.FORMATS
    name: str  # for messages
    ratings: str
    movies: str
    users: Optional[str]  # None: the release has no user features
    tags: Optional[str]  # read when present: the tags users applied to movies
    # With `ratings`, the files whose presence identifies the release.
    signature: Tuple[str, ...]
    # Each ratings line: a separator, or None for a CSV file with a header line.
    separator: Optional[str]
    # Matches the files TFX fingerprints to decide whether a cached run is still valid.
    fingerprint_pattern: str
    # The file names of a predefined split's (train, test) parts, '{}' for its name, and
    # what to do when they are missing.
    predefined_split_files: Optional[Tuple[str, str]] = None
    predefined_split_fix: str = ''

    @property
    def needed(self) -> Tuple[str, ...]:
        return tuple(name for name in (self.ratings, self.movies, self.users) if name)

    @property
    def predefined_splits(self) -> Tuple[str, ...]:
        return contract.PREDEFINED_SPLITS_OF.get(self.format, ())

    def describe(self) -> str:
        """The files it needs, and those read when present, for messages."""
        names = self.needed + tuple(name for name in self.signature if name not in self.needed)
        optional = f' ({self.tags} when present)' if self.tags not in (None,) + names else ''
        return f'{self.name}: {", ".join(names)}{optional}'


RELEASES = {
    contract.FORMAT_100K: Release(
        contract.FORMAT_100K, 'ML-100K', 'u.data', 'u.item', 'u.user', None,
        signature=(), separator='\t', fingerprint_pattern='u*',
        predefined_split_files=('{}.base', '{}.test'),
        predefined_split_fix=f'Point {DATA_DIR_FLAG} at the full ml-100k folder or zip.'),
    contract.FORMAT_1M: Release(
        contract.FORMAT_1M, 'ML-1M', 'ratings.dat', 'movies.dat', 'users.dat', None,
        signature=('users.dat',), separator='::', fingerprint_pattern='*.dat'),
    # ML-10M is told from 1M by its tags.dat and the missing users.dat. Its r1..r5, ra and
    # rb split files are in the folder once its script split_ratings.sh has run.
    contract.FORMAT_10M: Release(
        contract.FORMAT_10M, 'ML-10M', 'ratings.dat', 'movies.dat', None, 'tags.dat',
        signature=('tags.dat',), separator='::', fingerprint_pattern='*',
        predefined_split_files=('{}.train', '{}.test'),
        predefined_split_fix=('Run split_ratings.sh, which GroupLens ships in ml-10M100K, in '
                              'that folder (it writes r1..r5, ra and rb), or drop '
                              '--predefined-split.')),
    contract.FORMAT_CSV: Release(
        contract.FORMAT_CSV, 'ML-20M, 25M, 32M, ml-latest and ml-latest-small (CSV)',
        'ratings.csv', 'movies.csv', None, 'tags.csv',
        signature=(), separator=None, fingerprint_pattern='*.csv'),
}
RATINGS_FILES = tuple(sorted({release.ratings for release in RELEASES.values()}))


def has_ratings(file_names: Collection[str]) -> bool:
    return any(name in file_names for name in RATINGS_FILES)


def detect(folder: str, file_names: Collection[str]) -> Release:
    """The release whose ratings file and signature are among a folder's file names."""
    matches = [release for release in RELEASES.values()
               if release.ratings in file_names
               and all(name in file_names for name in release.signature)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise BadInputError(
            f'{folder} holds files of {" and ".join(r.name for r in matches)} '
            f'({", ".join(sorted(file_names))}). Point {DATA_DIR_FLAG} at a folder with one '
            'MovieLens release.')
    raise not_a_release(folder, file_names)


def not_a_release(folder: str, found: Collection[str]) -> BadInputError:
    """What was found, and what each release holds."""
    found_text = ', '.join(sorted(found)[:20]) or 'nothing'
    if len(found) > 20:
        found_text += f' and {len(found) - 20} more'
    return BadInputError(
        f'{folder} is not a MovieLens release: it holds {found_text}. Each release holds '
        f'these files: {"; ".join(r.describe() for r in RELEASES.values())}. Point '
        f'{DATA_DIR_FLAG} at such a folder (or its sub-folder), or at the zip GroupLens ships.')

