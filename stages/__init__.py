"""Stage implementations, one module per kind: detect, orient, recognize, decode."""
