"""The parts of the previous report that the next one may reuse: report/parts.json.

A run served from the cache has the artifacts of the run before it, and drawing its figures
and scoring its predictions again would give the same page, seconds later. So each part
that may be reused (collect.PARTS names what it is drawn from) is stored with its data, a
key made of the artifacts it read (MLMD id and creation time), and the digest of its figure
file. A later report reuses it only while the key is the same, the figure file still has
that digest (one overwritten or deleted since is drawn again), and the code that collects
and draws parts is unchanged: the file is dropped whole when that code's digest differs.
"""
import dataclasses
import hashlib
import json
import os
import typing
from typing import Any, Optional, Tuple

from reporting.context import Image

PARTS_FILE = 'parts.json'
_PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The code a part comes from: this package with its templates, the readers it reads with
# (runs/), and the names, files and signatures it takes from models/ and components/.
_CODE_DIRS = ('reporting', 'runs', 'models', 'components')


def code_digest() -> str:
    """A digest of the names and contents of every file under _CODE_DIRS."""
    digest = hashlib.sha256()
    for directory in _CODE_DIRS:
        for root, dirs, files in os.walk(os.path.join(_PROJECT, directory)):
            dirs[:] = sorted(d for d in dirs if d != '__pycache__')
            for name in sorted(files):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, _PROJECT).encode() + b'\0')
                with open(path, 'rb') as f:
                    digest.update(f.read() + b'\0')
    return digest.hexdigest()


def _file_digest(path: str) -> Optional[str]:
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None


def encode(value: Any) -> Any:
    """A part's data as JSON values: dataclasses become objects, tuples lists."""
    if dataclasses.is_dataclass(value):
        return {field.name: encode(getattr(value, field.name))
                for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode(hint: Any, value: Any) -> Any:
    """The inverse of encode, for data of type `hint` (a dataclass, or a typing form of
    them, tuples, lists, str-keyed dicts and plain values)."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{field.name: decode(hints[field.name], value[field.name])
                       for field in dataclasses.fields(hint)})
    if origin is typing.Union:  # Optional[X]: the None case is handled above
        (inner,) = [arg for arg in args if arg is not type(None)]
        return decode(inner, value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], item) for item in value)
        return tuple(decode(arg, item) for arg, item in zip(args, value))
    if origin is list:
        return [decode(args[0], item) for item in value]
    if origin is dict:
        return {key: decode(args[1], item) for key, item in value.items()}
    if hint is float:
        return float(value)  # JSON writes 1.0 as 1
    return value


class PartCache:
    """The parts stored by the previous report in report_dir, and those of the one being
    built, which save() writes for the next."""

    def __init__(self, report_dir: str, reuse: bool = True):
        self.report_dir = report_dir
        self._path = os.path.join(report_dir, PARTS_FILE)
        self._code = code_digest()
        self._previous = self._load() if reuse else {}
        self._current = {}

    def _load(self) -> dict:
        try:
            with open(self._path, encoding='utf-8') as f:
                stored = json.load(f)
        except (FileNotFoundError, ValueError):
            return {}  # no report yet, or one cut short: every part is built
        if not isinstance(stored, dict) or stored.get('code') != self._code:
            return {}
        return stored.get('parts') or {}

    @staticmethod
    def key(name: str, inputs: Any) -> str:
        """The key of part `name` drawn from `inputs` (JSON values or dataclasses)."""
        return hashlib.sha256(json.dumps([name, encode(inputs)], sort_keys=True).encode()
                              ).hexdigest()

    def reuse(self, name: str, key: str, data_type: Any) -> Optional[Tuple[Any, Optional[Image]]]:
        """A part of the previous report, if it may be reused.

        Args:
          name: the part's name (collect.PARTS).
          key: the key of what the part would be drawn from now.
          data_type: the dataclass its data is read back into.

        Returns:
          (data, image) if the part was kept with this key and its figure file is unchanged
          since; None if it must be built.
        """
        stored = self._previous.get(name)
        if not stored or stored.get('key') != key:
            return None
        image = stored.get('image')
        if image and _file_digest(os.path.join(self.report_dir, image['file'])
                                  ) != image['digest']:
            return None
        self._current[name] = stored
        return (decode(data_type, stored['data']),
                Image(image['file'], image['width'], image['height']) if image else None)

    def keep(self, name: str, key: str, data: Any, image: Optional[Image]) -> None:
        """Stores a part built whole, for the next report.

        Args:
          name: the part's name (collect.PARTS).
          key: the key of what it was drawn from.
          data: its data, a dataclass of reporting/context.py.
          image: its figure, whose file's digest is stored with it; None if it has none.
        """
        self._current[name] = {'key': key, 'data': encode(data), 'image': image and dict(
            encode(image), digest=_file_digest(os.path.join(self.report_dir, image.file)))}

    def save(self) -> None:
        # Written whole and then renamed: a report cut short leaves the previous file.
        with open(self._path + '.tmp', 'w', encoding='utf-8') as f:
            json.dump({'code': self._code, 'parts': self._current}, f)
        os.replace(self._path + '.tmp', self._path)
