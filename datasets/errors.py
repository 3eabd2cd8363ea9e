class DatasetError(ValueError):
    """A data file or directory is missing, truncated or not in the expected format."""
