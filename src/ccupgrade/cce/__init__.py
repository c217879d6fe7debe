"""cce layer."""
