"""The ``pledge`` command: thin adapters that parse arguments, call one core function, print."""
