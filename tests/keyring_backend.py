"""A keyring backend for the `--keyring` tests: a JSON file named by $SECRETCTL_TEST_KEYRING.

Test-only (tests/ is not in the distribution). The CLI picks it up through keyring's own switch,
``PYTHON_KEYRING_BACKEND=tests.keyring_backend.FileKeyring``, as it would a real OS backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]  # keyring declares it a classproperty

    @staticmethod
    def _path() -> Path:
        return Path(os.environ["SECRETCTL_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        p = self._path()
        return json.loads(p.read_text()) if p.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError(username)
        self._path().write_text(json.dumps(data))
