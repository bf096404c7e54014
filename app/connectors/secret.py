"""A credential that follows its source, so it can rotate without a restart.

From a secret file, the value is re-read whenever the file changes (one ``stat`` per use);
from an environment variable it is read once. The value never appears in ``repr``, logs or
errors.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr


class LiveSecret:
    def __init__(self, read: Callable[[], SecretStr], path: Path | None = None) -> None:
        self._read = read
        self._path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._value = read()

    @classmethod
    def fixed(cls, value: str) -> LiveSecret:
        return cls(lambda: SecretStr(value))

    def _stat(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            info = os.stat(self._path)
        except OSError:
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def value(self) -> str:
        if self._path is not None:
            stamp = self._stat()
            if stamp is not None and stamp != self._stamp:
                with self._lock:
                    try:
                        self._value = self._read()
                        self._stamp = stamp
                    except ValueError:
                        pass  # a half-written or emptied file: keep the last good value
        return self._value.get_secret_value()

    def __repr__(self) -> str:
        return "LiveSecret('**********')"
