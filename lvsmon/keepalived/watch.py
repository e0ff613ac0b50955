"""keepalived.conf, read again when it or a file it includes changes: polled, no inotify.

    watch = ConfigWatch("/etc/keepalived/keepalived.conf", config_id=None)
    if watch.changed():          # blocking (stat calls): call it from a worker thread
        conf = watch.read()      # KeepalivedConfigError for a broken file

A change is a different modification time, size or inode (an editor's rename) of the main
file, of every file the last read took in, or of their directories (a file an include
pattern now matches, or no longer does). A broken file is watched too, so that its fix is
read as soon as it is saved.
"""

from __future__ import annotations

import os

from lvsmon.errors import KeepalivedConfigError
from lvsmon.keepalived import read_config
from lvsmon.model.keepalived import KeepalivedConf

Stamp = tuple[str, int, int, int] | tuple[str, None, None, None]


class ConfigWatch:
    def __init__(self, path: str, config_id: str | None):
        self.path = path
        self.config_id = config_id
        self._files: tuple[str, ...] = (path,)  # what the last read took in
        self._stamps: tuple[Stamp, ...] | None = None  # as they were before the last read

    def changed(self) -> bool:
        """Whether a read now could give something else than the last one (True at first)."""
        return self._stamps is None or self._stamp_all() != self._stamps

    def read(self) -> KeepalivedConf:
        self._stamps = self._stamp_all()
        try:
            conf = read_config(self.path, self.config_id)
        except KeepalivedConfigError as exc:
            self._watch((*self._files, exc.path))
            raise
        self._watch(conf.files)
        return conf

    def _watch(self, files) -> None:
        files = tuple(dict.fromkeys((self.path, *files)))
        if files != self._files:
            # Files first met in this read have no stamp from before it: read once more.
            self._files = files
            self._stamps = None

    def _stamp_all(self) -> tuple[Stamp, ...]:
        paths = dict.fromkeys(self._files)
        paths.update(dict.fromkeys(os.path.dirname(os.path.abspath(p)) for p in self._files))
        return tuple(_stamp(path) for path in paths)


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return (path, None, None, None)
    return (path, st.st_mtime_ns, st.st_size, st.st_ino)
