"""Reflex's own state files (dev mode), kept private to the user that runs the app."""

from __future__ import annotations

from reflex.utils import prerequisites


def keep_state_files_private() -> None:
    """Reflex's disk state manager (`reflex run` in dev mode) pickles each tab's state, owner key included,
    into one directory, with the process's umask (files 0644): the directory is made readable by its owner
    alone, before the first file is written."""
    directory = prerequisites.get_states_dir()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
