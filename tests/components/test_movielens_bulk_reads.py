"""The ExampleGen's bulk path: a shard of plain rating lines is parsed as columns and its
examples made at once, byte for byte as the row-by-row path makes them; any other shard
is left to the row-by-row path, which names or skips its bad rows."""
import gzip
import io
import threading

from apache_beam.io import tfrecordio
import numpy as np
import pytest

from components.movielens import contract, executor, grouplens, reads, splits, tf_examples
from components.movielens.errors import BadInputError
from datasets import synthetic
from models import features


def _rows_and_shards(directory: str, lines_per_shard: int = 700):
    plan = reads.plan(contract.GROUPLENS, directory, None, None, skip_bad_rows=False)
    layout = grouplens.locate(directory)
    rows = plan.rows
    rows.setup()
    return rows, grouplens.plan_shards(layout.ratings, reads.ALL_ROWS, lines_per_shard)


def _row_by_row(rows, shard):
    return [(rating, tf_examples.rating_example(rating.user_id, rating.movie_id, rating.rating,
                                                rating.timestamp, movie, user))
            for _, rating, movie, user in rows(shard)]


@pytest.mark.parametrize('data_format', contract.FORMATS)
def test_bulk_examples_and_splits_are_the_row_by_row_ones(tmp_path, data_format):
    directory = synthetic.write_grouplens(str(tmp_path), 3000, seed=3, data_format=data_format)
    rows, shards = _rows_and_shards(directory)
    assert len(shards) == 5  # the CSV header in the first
    by_pair = executor._ByPair(splits.HashSplitter(features.SPLITS, (72, 8, 20)))
    timestamps = sorted(rating.timestamp for shard in shards for rating, _ in
                        _row_by_row(rows, shard))
    by_time = executor._ByTime(splits.TimeSplitter(features.SPLITS, (
        timestamps[len(timestamps) // 2], timestamps[len(timestamps) * 3 // 4])))
    for shard in shards:
        columns = rows.columns(shard)
        expected = _row_by_row(rows, shard)
        assert columns is not None
        assert tf_examples.rating_examples(columns) == [example for _, example in expected]
        for splitter in (by_pair, by_time):
            assert splitter.split_all(columns).tolist() == [
                splitter(rating.user_id, rating.movie_id, rating.timestamp)
                for rating, _ in expected]


def test_ids_with_leading_zeros_are_canonical_in_bulk(tmp_path):
    directory = synthetic.write_grouplens(str(tmp_path), 50, data_format=contract.FORMAT_100K)
    ratings = tmp_path / 'u.data'
    ratings.write_text(''.join('\t'.join('00' + field for field in line.split('\t')) + '\n'
                               for line in ratings.read_text().splitlines()))
    rows, [shard] = _rows_and_shards(directory)
    columns = rows.columns(shard)
    assert not any(row_id.startswith('0') for row_id in columns.user_ids + columns.movie_ids)
    assert tf_examples.rating_examples(columns) == [
        example for _, example in _row_by_row(rows, shard)]


@pytest.mark.parametrize('line', [
    ' 1\t7\t4\t881250949',  # a blank in a field: a good row, for the row-by-row parse
    '1\t7\t4\t881250949\r',  # a CRLF line end
    '1\t7\t6\t881250949',  # off the rating scale
    '1\t7\t3.5\t881250949',  # a half star in a release of whole stars
    '1\t7\tx\t881250949',
    '1\t7\t4',
    '1\t7\t4\t881250949\t1',
    '1\t\t4\t881250949',
    '1,7\t4\t881250949',  # no ',' may pass for a separator
    '1\t7\t4\t-881250949',
    '1\t7\t4\t99999999999999999999',  # past int64
    '1\t99999\t4\t881250949',  # a movie the movie file does not list
    '99999\t7\t4\t881250949',  # a user the user file does not list
])
def test_a_shard_with_a_line_that_is_not_plain_is_left_to_the_row_by_row_parse(tmp_path, line):
    directory = synthetic.write_grouplens(str(tmp_path), 50, data_format=contract.FORMAT_100K)
    ratings = tmp_path / 'u.data'
    ratings.write_bytes(ratings.read_bytes() + line.encode() + b'\n')
    rows, shards = _rows_and_shards(directory, lines_per_shard=20)
    assert [rows.columns(shard) is None for shard in shards] == [False, False, True]


def test_a_bad_csv_header_fails_in_bulk_as_row_by_row(tmp_path):
    directory = synthetic.write_grouplens(str(tmp_path), 50, data_format=contract.FORMAT_CSV)
    ratings = tmp_path / 'ratings.csv'
    ratings.write_bytes(b'user,movie,rating,time\n' + ratings.read_bytes().partition(b'\n')[2])
    rows, [shard, *_] = _rows_and_shards(directory, lines_per_shard=20)
    with pytest.raises(BadInputError) as bulk:
        rows.columns(shard)
    with pytest.raises(BadInputError) as row_by_row:
        list(rows(shard))
    assert str(bulk.value) == str(row_by_row.value)
    assert 'ratings.csv line 1' in str(bulk.value)


@pytest.mark.parametrize('separator', ['::', ','])
def test_the_separators_of_the_other_formats_are_plain(tmp_path, separator):
    data_format = contract.FORMAT_10M if separator == '::' else contract.FORMAT_CSV
    directory = synthetic.write_grouplens(str(tmp_path), 50, data_format=data_format)
    rows, shards = _rows_and_shards(directory, lines_per_shard=20)
    assert all(rows.columns(shard) is not None for shard in shards)
    name = 'ratings.dat' if separator == '::' else 'ratings.csv'
    with open(tmp_path / name, 'ab') as stream:
        stream.write(separator.join(('1', '1', '4.5', '881250949', '1')).encode() + b'\n')
    rows, shards = _rows_and_shards(directory, lines_per_shard=20)
    assert rows.columns(shards[-1]) is None  # five fields


def test_varints_in_bulk_equal_one_at_a_time():
    values = [0, 1, 127, 128, 16383, 16384, 2**28 - 1, 2**28, 2**35, 2**56, 2**63 - 1]
    varints, lengths = tf_examples._varints(np.array(values, np.int64))
    width = len(varints) // len(values)
    assert [varints[index * width:index * width + length]
            for index, length in enumerate(lengths.tolist())] == [
                tf_examples._varint(value) for value in values]


def test_tfrecords_are_framed_as_beam_frames_them():
    records = [b'', b'x', b'y' * 300, bytes(range(256)) * 300]
    beams = io.BytesIO()
    for record in records:
        tfrecordio._TFRecordUtil.write_record(beams, record)
    assert executor._tfrecords(records) == beams.getvalue()


def test_the_gzip_file_is_one_gzip_stream(tmp_path):
    path = tmp_path / 'records.gz'
    gzipped = executor._GzipFile(open(path, 'wb'))
    gzipped.write(b'abc' * 1000)
    gzipped.write(b'def')
    gzipped.close()
    assert gzip.decompress(path.read_bytes()) == b'abc' * 1000 + b'def'


def test_a_failed_write_of_the_gzip_file_is_raised_to_its_writer(tmp_path):
    class FullDisk:
        def write(self, data):
            raise OSError(28, 'No space left on device')

        def close(self):
            pass

    gzipped = executor._GzipFile(FullDisk())
    gzipped.write(b'abc')
    with pytest.raises(OSError, match='No space left'):
        gzipped.close()


def test_a_failed_final_flush_of_the_gzip_file_is_raised_by_close_not_waited_on():
    class FullDisk:  # full from the start: the flush after close()'s end is the first write
        def write(self, data):
            raise OSError(28, 'No space left on device')

        def close(self):
            pass

    raised = []

    def close():
        with pytest.raises(OSError, match='No space left') as error:
            executor._GzipFile(FullDisk()).close()
        raised.append(error.value)

    closing = threading.Thread(target=close, daemon=True)
    closing.start()
    closing.join(timeout=10)
    assert not closing.is_alive(), 'close() hung after the final flush failed'
    assert len(raised) == 1


@pytest.mark.parametrize('first_line', [b'\xef\xbb\xbf', b'\xc2\xa0', b''])
def test_a_csv_file_whose_first_line_reads_as_blank_is_left_to_the_row_by_row_parse(
        tmp_path, first_line):
    directory = synthetic.write_grouplens(str(tmp_path), 50, data_format=contract.FORMAT_CSV)
    ratings = tmp_path / 'ratings.csv'
    ratings.write_bytes(first_line + b'\n' + ratings.read_bytes())
    rows, [shard, *_] = _rows_and_shards(directory, lines_per_shard=20)
    assert rows.columns(shard) is None
