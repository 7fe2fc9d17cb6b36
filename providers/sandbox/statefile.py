"""The shared sandbox world's state in one SQLite file, so every process of a deployment sees one world.

gunicorn workers, management commands and Celery workers are separate processes. With an in-memory world
each had its own simulated providers, so a top-up placed by one process was invisible to the others. With
a state file, ``SandboxWorld(state_path=...)`` keeps its state here and every process opening the same
path agrees, without an extra process to start.

Layout: one row (``id = 1``) with a version number, a fingerprint of the code's state shape, the pickled
state and an HMAC-SHA256 over the three. Why these choices:

- SQLite (stdlib) gives what a hand-rolled file needs locks and renames for: ``BEGIN IMMEDIATE`` lets one
  writer in at a time across processes (the others wait up to ``busy_timeout``), a commit is atomic
  (a crash leaves the old state or the new one, never a torn one), and ``PRAGMA data_version`` tells a
  reader in microseconds whether another connection committed since it last looked. WAL mode keeps
  readers and the writer out of each other's way.
- The state is pickled because it is an object graph of the simulators' dataclasses (shared references
  included) that other code keeps extending; a pickle follows every new field without a codec to update.
  Unpickling runs code, so nothing is unpickled before its HMAC checks out: the key comes from the caller
  (the Django wiring derives it from ``SECRET_KEY``), and the file is created readable by its owner only.
  A file that fails the check is an error, not silently replaced: a process holding the right key may still
  be using it; ``SandboxWorld.reset()`` (``manage.py sandbox_reset``) writes a fresh world over it.
- The fingerprint names the state's dataclass fields. A file written by code with another shape is not
  loaded (its objects would lack the new fields); the world starts afresh and logs why.

Not thread-safe by itself: the world calls it under its lock. A process that forks (gunicorn's
``--preload``) reconnects in the child, as SQLite requires.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import pickle
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's write to finish
_SCHEMA = """
CREATE TABLE IF NOT EXISTS world (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    payload BLOB NOT NULL,
    mac BLOB NOT NULL,
    saved_at TEXT NOT NULL,
    saved_by TEXT NOT NULL
)
"""


class StateFileError(RuntimeError):
    """The state file cannot be opened or written (bad path, permissions, locked for too long)."""


@dataclass(frozen=True)
class Snapshot:
    version: int
    state: Any
    payload: bytes  # the pickle ``state`` came from; a save with identical bytes is skipped


def state_key(secret: str | bytes) -> bytes:
    """The HMAC key for a caller's secret (never the secret itself, so the file proves nothing about it)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(b"esim-sandbox-state\0" + raw).digest()


class StateFile:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fingerprint: str,
        secret: str | bytes = "",
        busy_timeout: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self._key = state_key(secret)
        self._busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._data_version: int | None = None

    # --- connection -----------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            self._connection = self._connect()
            self._pid = os.getpid()
            self._data_version = None
        return self._connection

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created owner-only before SQLite opens it (SQLite would use the umask, usually 0644).
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            connection = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._retry_busy(lambda: connection.execute("PRAGMA journal_mode=WAL"))
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints; a sandbox
            self._retry_busy(lambda: connection.execute(_SCHEMA))
        except (OSError, sqlite3.Error) as exc:
            raise StateFileError(f"cannot open the sandbox state file {self.path}: {exc}") from exc
        return connection

    def _retry_busy(self, operation: Any) -> Any:
        """Switching a fresh file to WAL can report "locked" at once (no busy handler); retry a while."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return operation()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None

    # --- reading --------------------------------------------------------------------------------------

    def changed(self) -> bool:
        """True when another connection committed since the last call (or on the first call)."""
        (data_version,) = self._conn().execute("PRAGMA data_version").fetchone()
        changed = data_version != self._data_version
        self._data_version = data_version
        return changed

    def version(self) -> int | None:
        row = self._conn().execute("SELECT version FROM world WHERE id = 1").fetchone()
        return None if row is None else row[0]

    def load(self) -> Snapshot | None:
        """The stored state; None when there is none or other code wrote it. Raises when the HMAC fails."""
        row = (
            self._conn()
            .execute("SELECT version, fingerprint, payload, mac FROM world WHERE id = 1")
            .fetchone()
        )
        if row is None:
            return None
        version, fingerprint, payload, mac = row
        if fingerprint != self.fingerprint:
            logger.info(
                "sandbox state %s was written by another version of the simulators; starting a fresh world",
                self.path,
            )
            return None
        if not hmac.compare_digest(bytes(mac), self._mac(version, fingerprint, bytes(payload))):
            # Never overwritten silently: a process with the right key may still be using it.
            raise StateFileError(
                f"sandbox state file {self.path} fails its integrity check: it was written with another "
                "secret (SECRET_KEY) or edited. Give every process the same SECRET_KEY, or start the "
                "world afresh (manage.py sandbox_reset, or delete the file while no process uses it)."
            )
        # The HMAC above proves the bytes were written by a holder of the key, i.e. by our own code.
        return Snapshot(version, pickle.loads(payload), bytes(payload))  # noqa: S301

    # --- writing --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the file's write lock: other processes' writers wait, readers keep reading the old state."""
        connection = self._conn()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StateFileError(f"sandbox state file {self.path} stayed locked: {exc}") from exc
        try:
            yield
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def save(self, state: Any, previous: Snapshot | None) -> Snapshot:
        """Store ``state`` as the next version (inside ``transaction``); unchanged bytes are not rewritten."""
        payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        if previous is not None and payload == previous.payload:
            return previous
        version = (self.version() or 0) + 1
        self._conn().execute(
            "INSERT INTO world (id, version, fingerprint, payload, mac, saved_at, saved_by) "
            "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
            "fingerprint = excluded.fingerprint, payload = excluded.payload, mac = excluded.mac, "
            "saved_at = excluded.saved_at, saved_by = excluded.saved_by",
            (
                version,
                self.fingerprint,
                payload,
                self._mac(version, self.fingerprint, payload),
                datetime.now(UTC).isoformat(timespec="seconds"),
                f"{socket.gethostname()}:{os.getpid()}",
            ),
        )
        return Snapshot(version, state, payload)

    def _mac(self, version: int, fingerprint: str, payload: bytes) -> bytes:
        message = version.to_bytes(8, "big") + fingerprint.encode() + b"\0" + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()
