"""Where media bytes live: a local directory by default.

Keys are opaque and generated here (never taken from a filename a customer chose), so a
key can never escape the directory.
"""

from __future__ import annotations

import secrets
from pathlib import Path


class LocalMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, workspace_id: int, data: bytes) -> str:
        key = f"{workspace_id}/{secrets.token_hex(16)}"
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return key

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("media key outside the store")
        return path

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()
