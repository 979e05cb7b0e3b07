"""One ``ComponentResource`` per concern of an environment."""
