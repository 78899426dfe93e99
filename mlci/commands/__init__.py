"""One module per command: the stages each one calls, in order."""
