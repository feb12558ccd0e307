"""Where a training run's appended logs live: ``epochs.csv``, ``steps.csv`` and TensorBoard events.

For a local ``out_dir`` they are written there directly. For an object-store URL (objects cannot be appended to)
they are written to a local temporary directory and uploaded to ``out_dir`` by :meth:`RunLogs.publish`, which the
trainer calls after every epoch and at the end of the run; a resumed run first fetches the CSV logs to append to.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from clcm import storage

CSV_LOGS = ("epochs.csv", "steps.csv")
TENSORBOARD = "tensorboard"


class RunLogs:
    def __init__(self, out: str) -> None:
        self.out = out
        self.remote = storage.is_url(out)
        self._dir = None if self.remote else out  # a URL's local copy is made when a log is first written

    @property
    def dir(self) -> str:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="clcm-train-logs-")
        return self._dir

    def path(self, name: str) -> str:
        """The local file of log ``name`` (e.g. ``steps.csv``)."""
        return os.path.join(self.dir, name)

    @property
    def tensorboard(self) -> str:
        return self.path(TENSORBOARD)

    def fetch(self) -> None:
        """Resuming into a URL ``out_dir``: bring its CSV logs here, so the run appends to them."""
        if not self.remote:
            return
        for name in CSV_LOGS:
            if storage.is_file(remote := storage.join(self.out, name)):
                storage.write_bytes(self.path(name), storage.read_bytes(remote))

    def publish(self, tensorboard: Any = None) -> None:
        """Upload the logs to a URL ``out_dir``, after flushing the run's TensorBoard writer (if given)."""
        if not self.remote or self._dir is None:
            return
        if tensorboard is not None:
            tensorboard.flush()
        storage.upload_dir(self.dir, self.out)
        if os.path.isdir(self.tensorboard):
            storage.upload_dir(self.tensorboard, storage.join(self.out, TENSORBOARD))

    def close(self) -> None:
        """The last upload (writers closed), then the local copy of a URL ``out_dir``'s logs is removed."""
        if self.remote and self._dir is not None:
            self.publish()
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
