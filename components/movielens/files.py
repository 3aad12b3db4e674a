"""The files of a MovieLens folder or zip: listing them, opening them, and reading their lines
as text.

Local paths are read with Python's own file functions (the fastest); URIs such as
gs://bucket/ml-100k through tf.io.gfile (components/filesystem.py).
"""
import contextlib
import dataclasses
import os
import re
import zipfile
import zlib
from typing import BinaryIO, Dict, Iterator, List, Optional, Tuple

from components import filesystem
from components.movielens.errors import BadInputError, DATA_DIR_FLAG, quote

# Any control character but tab: the mark of a file that is not latin-1 or UTF-8 text,
# such as UTF-16 (every other byte 0) or binary junk.
_CONTROL_CHARACTERS = re.compile('[\x00-\x08\x0a-\x1f\x7f]')


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One file of a data set: a file on disk, or a member of a .zip."""
    path: str
    member: Optional[str] = None

    @property
    def name(self) -> str:
        """How messages name the file."""
        return self.path if self.member is None else f'{self.path}:{self.member}'

    @property
    def base_name(self) -> str:
        return (self.member or self.path).replace('\\', '/').rpartition('/')[2]

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """Opens the file for binary reading; a corrupt zip becomes a BadInputError."""
        if self.member is None:
            with filesystem.open_binary(self.path) as stream:
                yield stream
            return
        try:
            with filesystem.open_binary(self.path) as zip_stream, \
                    zipfile.ZipFile(zip_stream) as archive, archive.open(self.member) as stream:
                yield stream
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise corrupt_zip_error(self.path, error) from error


def corrupt_zip_error(path: str, error: Exception) -> BadInputError:
    return BadInputError(
        f'{path} is not a readable zip file: it is truncated or corrupt ({error}). Download '
        f'it again, or unzip a good copy and pass the folder with {DATA_DIR_FLAG}.')


def _list_dir(path: str) -> Tuple[List[str], Dict[str, str]]:
    """The paths of a folder's sub-folders, and of its files by name."""
    if not filesystem.is_uri(path):
        entries = list(os.scandir(path))
        return ([entry.path for entry in entries if entry.is_dir()],
                {entry.name: entry.path for entry in entries if entry.is_file()})
    folders, files = [], {}
    for name in filesystem.listdir(path):
        child = filesystem.join(path, name)
        if filesystem.isdir(child):
            folders.append(child)
        else:
            files[name] = child
    return folders, files


def folders_in_dir(path: str) -> Dict[str, Dict[str, DataFile]]:
    """The files of `path` and of each of its sub-folders, by folder."""
    folders = {}
    for folder in [path] + sorted(_list_dir(path)[0]):
        folders[folder] = {name: DataFile(file_path)
                           for name, file_path in _list_dir(folder)[1].items()}
    return folders


def is_zip(path: str) -> bool:
    with filesystem.open_binary(path) as stream:
        return zipfile.is_zipfile(stream)


def folders_in_zip(path: str) -> Dict[str, Dict[str, DataFile]]:
    """The members of a zip, grouped by folder ('' for the top)."""
    try:
        with filesystem.open_binary(path) as stream, zipfile.ZipFile(stream) as archive:
            members = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise corrupt_zip_error(path, error) from error
    folders: Dict[str, Dict[str, DataFile]] = {}
    for member in members:
        folder, name = member.rpartition('/')[::2]
        folders.setdefault(folder, {})[name] = DataFile(path, member)
    return folders


def decode(raw: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8, else latin-1, which the older releases ship."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return raw.decode('latin-1')


def line_text(raw: bytes, line_number: int) -> str:
    """One line as text, without its line ending (LF or CRLF) or a leading byte-order mark."""
    text = decode(raw.rstrip(b'\r\n'))
    return text.lstrip('\ufeff') if line_number == 1 else text


def table_lines(data_file: DataFile) -> Iterator[Tuple[int, str]]:
    """The non-blank lines of a movie, user or tag file, with their 1-based numbers."""
    with data_file.open() as stream:
        for line_number, raw in enumerate(stream, start=1):
            text = line_text(raw, line_number)
            if _CONTROL_CHARACTERS.search(text):
                raise BadInputError(
                    f'{data_file.name} line {line_number}: unreadable encoding: '
                    f'{quote(text)} holds control characters, so the file is not latin-1 or '
                    'UTF-8 text. Save it as latin-1 (as GroupLens ships it) or UTF-8.')
            if text.strip():
                yield line_number, text
