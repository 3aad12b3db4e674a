"""A run killed (SIGKILL, the OOM killer) in the middle of a write to metadata.sqlite leaves
SQLite's rollback journal behind. The next connection that may write rolls it back; the
readers (the report, the up-to-date check, the tests) open the store read-only, and must
still read it as the last finished write left it."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from runs import record


def new_store(path: str) -> None:
    """An MLMD store with one artifact type, and a table of rows to rewrite."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    sqlite = metadata_store_pb2.SqliteMetadataSourceConfig
    config.sqlite.connection_mode = sqlite.READWRITE_OPENCREATE
    mlmd.MetadataStore(config).put_artifact_type(metadata_store_pb2.ArtifactType(name='Model'))
    connection = sqlite3.connect(path)
    with connection:
        connection.execute('CREATE TABLE filler (value TEXT)')
        connection.executemany('INSERT INTO filler VALUES (?)', [('a' * 500,)] * 2000)
    connection.close()


def killed_mid_write(path: str) -> None:
    """A process that rewrites every filler row in one transaction, then is killed before
    it commits. A one-page cache makes it write changed pages to the file as it goes."""
    writer = textwrap.dedent(f"""
        import os, signal, sqlite3
        connection = sqlite3.connect({path!r}, isolation_level=None)
        connection.execute('PRAGMA cache_size=1')
        connection.execute('BEGIN')
        connection.execute("UPDATE filler SET value = 'b'")
        connection.execute("INSERT INTO Type (name, type_kind) VALUES ('Uncommitted', 1)")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    process = subprocess.run([sys.executable, '-c', writer])
    assert process.returncode == -signal.SIGKILL


def test_a_store_whose_writer_was_killed_reads_as_its_last_finished_write(tmp_path):
    path = str(tmp_path / 'metadata.sqlite')
    new_store(path)
    killed_mid_write(path)
    assert os.path.getsize(path + '-journal') > 0  # what the killed writer left

    store = record.connect(path)

    assert [t.name for t in store.get_artifact_types()] == ['Model']
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT DISTINCT value FROM filler").fetchall() == [('a' * 500,)]
    connection.close()
