"""Subcommands of the ``insider`` CLI, one module each."""
