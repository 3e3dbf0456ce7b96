"""Files and folders the project writes are readable by their owner only (等保 2.0 access
control; PIPL): folders 0700, files 0600, and a process umask of 077 for everything else a
library writes on our behalf."""

from __future__ import annotations

import os
from pathlib import Path

UMASK = 0o077


def restrict_umask() -> None:
    """Called at the start of every command: files created later are owner-only."""
    os.umask(UMASK)


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Creates `path` (empty) owner-only, or makes an existing one owner-only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def write_private(path: Path, content: bytes) -> Path:
    private_dir(path.parent)
    private_file(path)
    path.write_bytes(content)
    return path
