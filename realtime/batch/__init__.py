"""Many files, or long files in chunks, on local worker processes or a Ray cluster."""
