"""What a local run does to metadata.sqlite besides TFX's own records: it checks that the file
is intact before a run or a report reads it. Reading a run is runs/record.py's job.

The check uses Python's sqlite3 alone, so that a run meets a damaged store before it waits
for TensorFlow's and TFX's imports.
"""
import os
import pathlib
import sqlite3

from runs.output_dir import OutputDir


class DamagedStoreError(Exception):
    """metadata.sqlite is not a readable SQLite database; the message says what it holds
    and how to recover."""


def check(metadata_path: str) -> None:
    """Raises DamagedStoreError when SQLite's quick_check finds metadata_path damaged.

    quick_check reads every page of the file once (milliseconds at a run's size), which
    finds the damage a bad copy or an interrupted write leaves in the middle of it.
    Nothing is checked when the file does not exist yet: a run starts a new store.
    """
    if not os.path.exists(metadata_path):
        return
    uri = pathlib.Path(os.path.abspath(metadata_path)).as_uri() + '?mode=ro'
    try:
        connection = sqlite3.connect(uri, uri=True)
        try:
            findings = [row[0] for row in connection.execute('PRAGMA quick_check')]
        finally:
            connection.close()
    except sqlite3.OperationalError:
        # Busy, unreadable, or a journal that a killed writer left and that only a writer
        # may roll back: none of them damage, and MLMD deals with each.
        return
    except sqlite3.DatabaseError as error:
        findings = [str(error)]
    if findings != ['ok']:
        raise DamagedStoreError(damaged_message(metadata_path, findings[0]))


def damaged_message(metadata_path: str, finding: str) -> str:
    output_dir = os.path.dirname(os.path.abspath(metadata_path))
    # Its artifacts go too: a new store numbers executions from 1 again, and their outputs
    # would land in the folders of the old ones.
    pipeline_root = OutputDir(output_dir).pipeline_root
    return (f'{metadata_path} is damaged (SQLite: {finding}). It holds the cache and lineage '
            f'of the earlier runs in {output_dir}: not the served models (serving_model/), '
            'which stay as they are, nor the artifacts themselves (pipeline_root/), which only '
            f'it names. Move both aside (mv {metadata_path} {metadata_path}.damaged; '
            f'mv {pipeline_root} {pipeline_root}.damaged) and run again: the next run starts '
            'a new store and rebuilds what it needs.')
