"""What a local run does to metadata.sqlite besides TFX's own records: it checks that the file
is intact before a run or a report reads it, and marks the executions an interrupt stopped
as CANCELED. Reading a run is runs/record.py's job, and it never writes.

The check uses Python's sqlite3 alone, so that a run meets a damaged store before it waits
for TensorFlow's and TFX's imports.
"""
import os
import pathlib
import sqlite3
from typing import Iterable

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
        # may roll back (roll_back_killed_write): none of them damage.
        return
    except sqlite3.DatabaseError as error:
        findings = [str(error)]
    if findings != ['ok']:
        raise DamagedStoreError(damaged_message(metadata_path, findings[0]))


def roll_back_killed_write(metadata_path: str) -> None:
    """Rolls back the write of a run killed mid-transaction (SIGKILL, the OOM killer).

    It leaves SQLite's rollback journal beside the store, which the next connection that may
    write rolls back, restoring the store as the last finished write left it. A read-only
    connection cannot, and MLMD's read-only store then fails with "attempt to write a
    readonly database": readers open the store this way first. A journal that a live writer
    holds is not rolled back (SQLite checks its lock); the read then waits for the write.
    """
    if not os.path.exists(metadata_path + '-journal'):
        return
    connection = sqlite3.connect(metadata_path, timeout=30)
    try:
        connection.execute('PRAGMA schema_version').fetchone()  # any read recovers
    finally:
        connection.close()


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


def cancel(metadata_path: str, execution_ids: Iterable[int]) -> None:
    """Marks executions CANCELED: those an interrupt stopped, which TFX leaves RUNNING."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    execution_ids = list(execution_ids)
    if not execution_ids:
        return
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    store = mlmd.MetadataStore(config)
    executions = store.get_executions_by_id(execution_ids)
    for execution in executions:
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
    store.put_executions(executions)
