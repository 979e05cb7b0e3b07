"""Data versioning: immutable dataset versions, profiles and diffs."""
