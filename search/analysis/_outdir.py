"""Output folders written whole or not at all (export, report): built beside the target, then swapped in."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from greenknobs._errors import GreenknobsError


def marker_name(command: str) -> str:
    return f".greenknobs-{command}"


@contextlib.contextmanager
def replacing_folder(out: Path, command: str, study_name: str) -> Iterator[Path]:
    """Yield an empty folder to fill; on success it replaces `out`. A folder this command did not write (no marker)
    is refused, never clobbered; on failure `out` is left as it was."""
    marker = marker_name(command)
    if out.exists():
        if not out.is_dir():
            raise GreenknobsError(f"--out {out} is a file: give a folder path ({command} writes several files)")
        if any(out.iterdir()) and not (out / marker).is_file():
            raise GreenknobsError(f"--out {out} holds files that `greenknobs {command}` did not write: "
                                  "choose a new or empty folder, or remove that one yourself")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        yield tmp
        (tmp / marker).write_text(f"written by `greenknobs {command}` from study {study_name}\n", encoding="utf-8")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, out: Path) -> None:
    """Two renames in one folder: the old folder steps aside, the new one takes its name, the old one goes."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
