"""The policy pack: each CIS control a plain function, usable with and without the Pulumi CLI."""
