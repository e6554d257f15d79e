"""The bundled model, answering from a process of its own: the provider, that process, and its worker."""
