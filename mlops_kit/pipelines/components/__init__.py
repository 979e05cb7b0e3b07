"""The kit's reusable KFP v2 components, one per module.

Each is a typed function that KFP runs on its own: it imports what it needs inside its body, opens
the environment it is given (the kit resolves it before the run, so every task sees the same
resources) and calls the kit's library. The modules do not use postponed annotations, because KFP
reads the signatures.
"""
