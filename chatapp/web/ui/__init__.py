"""The page: pure functions of state, one module per panel."""
