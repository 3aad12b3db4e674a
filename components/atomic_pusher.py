"""AtomicPusher: TFX's Pusher, except that a served version appears whole or not at all.

TFX's Pusher copies the model file by file straight into <base>/<version>/, so a model
server that scans the base directory meanwhile, or a push that dies halfway, leaves a
numbered directory holding part of a model. This Pusher copies into <base>/.<version>.tmp,
a name TF Serving ignores because it is not a number, flushes it to disk, and renames the
finished copy to <base>/<version>: on a local file system the rename is atomic.

Its versions always increase: a push gets the current Unix time, or one more than the
newest version already there, so that a new model is never hidden behind an older one and
two pushes in the same second do not collide (TFX's Pusher skips the second push, while
recording the first one's directory as its destination).

One pusher writes a base directory at a time (local_runner.py's lock on the output dir
guarantees this locally), so a temporary directory found at the start of a push was left
by a push that died, and is removed.

On a bucket (gs://...) no rename is atomic; there TFX's own push runs unchanged: it
copies saved_model.pb last, the file that model servers wait for.
"""
import os
import time
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.utils import proto_utils
from tfx.components.pusher.component import Pusher

from components import filesystem, serving_layout


def next_version(base_directory: str) -> str:
    """Now as a Unix time, or one more than the newest version if that is not later."""
    return str(max([int(time.time())] + [version + 1 for version in
                                         serving_layout.versions(base_directory)]))


def remove_stale_temporaries(base_directory: str) -> None:
    """Deletes the temporary copies of pushes that died before their rename."""
    if not fileio.isdir(base_directory):
        return
    for name in filesystem.listdir(base_directory):
        if serving_layout.is_temporary(name):
            logging.warning('Removing %s, left by a push that did not finish.', name)
            fileio.rmtree(os.path.join(base_directory, name))


def _fsync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_tree(directory: str) -> None:
    """Flushes a local directory tree to disk: after a power cut, a renamed version must
    hold the model's bytes, not files whose data never reached the disk."""
    for folder, _, names in os.walk(directory):
        for name in names:
            _fsync(os.path.join(folder, name))
        _fsync(folder)


def push_atomically(model_path: str, base_directory: str) -> str:
    """Copies the SavedModel in model_path to a new version of base_directory; returns
    the version's directory, which appears complete or not at all."""
    remove_stale_temporaries(base_directory)
    version = next_version(base_directory)
    temporary = os.path.join(base_directory, serving_layout.temporary_name(version))
    destination = os.path.join(base_directory, version)
    try:
        io_utils.copy_dir(model_path, temporary)
        _sync_tree(temporary)
        fileio.rename(temporary, destination)
        _fsync(base_directory)  # the rename itself
    except Exception:
        # The push fails either way; this only spares the next push the clean-up.
        if fileio.exists(temporary):
            fileio.rmtree(temporary)
        raise
    return destination


class AtomicPushExecutor(pusher_executor.Executor):
    """Pushes a blessed model to <base>/<version>/ by copy and rename (see module doc)."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        push_destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], push_destination)
        destination = push_destination.filesystem
        if (push_destination.WhichOneof('destination') != 'filesystem'
                or filesystem.is_uri(destination.base_directory)
                or destination.versioning not in (pusher_pb2.Versioning.AUTO,
                                                 pusher_pb2.Versioning.UNIX_TIMESTAMP)):
            super().Do(input_dict, output_dict, exec_properties)
            return

        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        # As TFX's Pusher does, the pushed model is also archived in the artifact; first
        # here, so that a push that fails has served nothing.
        io_utils.copy_dir(model_path, model_push.uri)
        serving_path = push_atomically(model_path, destination.base_directory)
        logging.info('Model written to serving path %s.', serving_path)
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=os.path.basename(serving_path))


class AtomicPusher(Pusher):
    """tfx.components.Pusher with AtomicPushExecutor; same inputs, outputs and properties.

    Give it the id 'Pusher' (.with_id) to keep the component id of TFX's Pusher.
    """

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)
