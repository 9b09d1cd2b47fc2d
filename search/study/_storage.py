"""Storage URLs → Optuna storages. The default is Optuna's journal file: append-only (a killed worker cannot leave
it half-written), safe for several processes on one host through file locks, and read by optuna-dashboard.
SQLite serialises writers badly under parallel workers; PostgreSQL is the engine for several hosts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import optuna

from greenknobs._errors import GreenknobsError

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")


def default_storage_url(study_name: str, directory: str | os.PathLike = "studies") -> str:
    return f"journal:{Path(directory) / (study_name + '.journal')}"


def storage_kind(url: str) -> str:
    """'journal', 'sqlite', 'postgresql', 'mysql' or 'memory'."""
    if url == ":memory:":
        return "memory"
    if url.startswith("journal:") or url.endswith((".journal", ".log")) and "://" not in url:
        return "journal"
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme == "postgres":
        return "postgresql"
    if scheme in _RDB_SCHEMES:
        return scheme
    raise GreenknobsError(
        f"storage URL '{url}' is not one greenknobs knows: use journal:PATH (default), sqlite:///PATH, "
        "or postgresql://user:password@host/db"
    )


def open_storage(url: str, *, create: bool = True, heartbeat_interval_s: int | None = None,
                 stale_trial_callback: Any = None) -> Any:
    """`stale_trial_callback` (RDB with a heartbeat): what happens to a trial whose worker stopped beating;
    default: run its configuration again, once."""
    kind = storage_kind(url)
    if kind == "memory":
        return optuna.storages.InMemoryStorage()
    if kind == "journal":
        path = Path(url.removeprefix("journal:"))
        if not create and not path.is_file():
            raise GreenknobsError(f"no study storage at {path}: run `greenknobs run` first or pass --storage")
        if path.exists() and path.is_dir():
            raise GreenknobsError(f"storage path {path} is a folder: give a file path such as {path / 'study.journal'}")
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    if kind == "sqlite":
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and not create and not Path(path).is_file():
            raise GreenknobsError(f"no study storage at {path}: run `greenknobs run` first or pass --storage")
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if heartbeat_interval_s:
        kwargs = {
            "heartbeat_interval": heartbeat_interval_s,
            "grace_period": heartbeat_interval_s * 4,
            "heartbeat_stale_trial_callback": stale_trial_callback or optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
        }
    try:
        return _rdb_storage(_with_driver(url, kind), _engine_kwargs(kind), kwargs)
    except ImportError as err:
        raise GreenknobsError(f"storage '{kind}' needs a database driver ({err}): pip install 'greenknobs[postgresql]'") from None
    except Exception as err:  # sqlalchemy OperationalError / ArgumentError carry the driver's reason
        reason = str(err).strip().splitlines()[0][:200]
        raise GreenknobsError(f"cannot open storage {_redact(url)} ({reason}): check the URL, that the server runs, and the credentials") from None


def _rdb_storage(url: str, engine_kwargs: dict[str, Any], kwargs: dict[str, Any], attempts: int = 5) -> Any:
    """Workers on several hosts starting together on an empty database all create Optuna's tables; all but one
    lose that race with a duplicate-key error. The tables then exist, so a loser simply opens the storage again."""
    import time

    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _with_driver(url: str, kind: str) -> str:
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which greenknobs[postgresql] installs (so the same URL
    works in optuna and optuna-dashboard run directly); an install that has psycopg2 only keeps working with it."""
    scheme, rest = url.split("://", 1)
    if kind != "postgresql" or "+" in scheme:
        return url
    import importlib.util

    driver = "psycopg" if importlib.util.find_spec("psycopg") else "psycopg2"
    return f"postgresql+{driver}://{rest}"


def _engine_kwargs(kind: str) -> dict[str, Any]:
    if kind == "postgresql":
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    return {}


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
