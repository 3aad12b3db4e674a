"""The layout TF Serving watches: <base>/<version>/saved_model.pb, each version a number.

The Pusher writes it; rank.py, the run report and the Kubeflow baseline read it. TF Serving
loads only the versions named by an integer and serves the highest, so anything else in the
base directory (a copy in progress, a backup) is not a version.
"""
import re
from typing import List, Optional

from components import filesystem

SAVED_MODEL_FILE = 'saved_model.pb'
_VERSION_NAME = re.compile(r'[0-9]+')
_TEMPORARY_NAME = re.compile(r'\.[0-9]+\.tmp')


def versions(base_directory: str) -> List[int]:
    """The numbered version dirs in base_directory, oldest first; empty if it does not exist."""
    if not filesystem.isdir(base_directory):
        return []
    return sorted(int(name) for name in filesystem.listdir(base_directory)
                  if _VERSION_NAME.fullmatch(name))


def newest_version_dir(base_directory: str) -> Optional[str]:
    """The newest version that holds a whole SavedModel, as TF Serving would serve it."""
    for version in reversed(versions(base_directory)):
        path = filesystem.join(base_directory, str(version))
        if filesystem.exists(filesystem.join(path, SAVED_MODEL_FILE)):
            return path
    return None


def temporary_name(version: str) -> str:
    """Where the Pusher copies a version before renaming it into place: TF Serving ignores
    the name, since it is not a number."""
    return f'.{version}.tmp'


def is_temporary(name: str) -> bool:
    return bool(_TEMPORARY_NAME.fullmatch(name))
