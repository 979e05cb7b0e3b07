"""The cloud twin: loopback fakes of the Google services the kit calls, driven by the real clients."""
