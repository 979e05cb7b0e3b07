"""Projects from templates: ``mlops-kit new`` renders one wired to an environment, ``update``
brings in later template versions as a reviewable merge."""
