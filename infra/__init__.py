"""The Pulumi program of mlops-kit: one component per concern, composed in ``__main__``."""
