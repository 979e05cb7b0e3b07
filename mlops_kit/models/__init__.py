"""Model versioning: the registry of versions, lineage, aliases and their history."""
