"""Local disk: one file per block under a directory, shareable by the processes of one machine.

* Writes go to a temporary file that is renamed into place, so a reader (in this or another
  process) sees a whole block or none; every read checks the frame's length and CRC, and a bad
  file is deleted and read as a miss.
* ``contains`` and ``get`` look at the directory itself, so blocks written by another replica
  are hits here. Each process keeps its own index of sizes for the byte budget and its own
  eviction order; a block another process wrote joins the index when this process first reads
  or finds it, and at start-up every file present does (oldest first).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from blacksoil.kvpool import frame
from blacksoil.kvpool.policies import EvictionPolicy
from blacksoil.kvpool.tiers.base import Evicted, Tier

_SUFFIX = ".blk"


class DiskTier(Tier):
    shared = True

    def __init__(self, name: str, root: Path, capacity_bytes: int, policy: EvictionPolicy) -> None:
        super().__init__(name, capacity_bytes)
        self.root = root
        self.policy = policy
        self._sizes: dict[bytes, int] = {}
        self._used = 0
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        self._scan()

    def get(self, key: bytes) -> bytes | None:
        path = self._path(key)
        self.stats.lookups += 1
        try:
            payload = _read_frame(path)
        except FileNotFoundError:
            self._unindex(key)
            return None
        if payload is None:
            self.stats.corrupt += 1
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._unindex(key)
            return None
        self.stats.hits += 1
        self.stats.bytes_read += len(payload)
        with self._lock:
            if key in self._sizes:
                self.policy.touch(key)
            else:
                self._index(key, len(payload) + frame.HEADER_BYTES, 1.0)
        return payload

    def put(self, key: bytes, payload: bytes, cost: float = 1.0) -> Evicted:
        data = frame.pack(payload)
        if len(data) > self.capacity_bytes:
            return []
        path = self._path(key)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            self.stats.puts += 1
            self.stats.bytes_written += len(data)
        with self._lock:
            if key in self._sizes:
                self.policy.touch(key)
                return []
            victims = self._make_room(len(data))
            self._index(key, len(data), cost)
        for victim in victims:
            with contextlib.suppress(FileNotFoundError):
                self._path(victim).unlink()
        return []  # what disk gives up is gone: nothing below it to demote to

    def contains(self, keys: Sequence[bytes]) -> list[bool]:
        return [self._path(k).exists() for k in keys]

    def delete(self, key: bytes) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
        self._unindex(key)

    @property
    def used_bytes(self) -> int:
        return self._used

    @property
    def blocks(self) -> int:
        return len(self._sizes)

    # -- internals -----------------------------------------------------------------------------

    def _path(self, key: bytes) -> Path:
        name = key.hex()
        return self.root / name[:2] / (name + _SUFFIX)

    def _scan(self) -> None:
        found = []
        for path in self.root.glob(f"*/*{_SUFFIX}"):
            with contextlib.suppress(OSError, ValueError):
                st = path.stat()
                found.append((st.st_mtime, bytes.fromhex(path.stem), st.st_size))
        with self._lock:
            for _, key, size in sorted(found):
                self._index(key, size, 1.0)
            victims = self._make_room(0)
        for victim in victims:
            with contextlib.suppress(FileNotFoundError):
                self._path(victim).unlink()

    def _make_room(self, size: int) -> list[bytes]:
        """Under the lock: drop index entries until ``size`` more bytes fit; return their keys."""
        victims = []
        while self._sizes and self._used + size > self.capacity_bytes:
            victim = self.policy.victim()
            self._used -= self._sizes.pop(victim)
            self.stats.evictions += 1
            victims.append(victim)
        return victims

    def _index(self, key: bytes, size: int, cost: float) -> None:
        self._sizes[key] = size
        self._used += size
        self.policy.admit(key, size, cost)

    def _unindex(self, key: bytes) -> None:
        with self._lock:
            size = self._sizes.pop(key, None)
            if size is not None:
                self._used -= size
                self.policy.forget(key)


def _read_frame(path: Path) -> bytes | None:
    """The block's payload, read once from the file, or None if it is truncated, padded or corrupt."""
    with path.open("rb") as f:
        head = frame.read_header(f.read(frame.HEADER_BYTES))
        if head is None:
            return None
        length, crc = head
        payload = f.read(length + 1)  # one byte more than promised: a padded file is caught too
    return payload if len(payload) == length and frame.verify(payload, crc) else None
