"""MCP servers the app connects to, named in the file `CHATAPP_MCP_CONFIG` points at (see config.py)."""
