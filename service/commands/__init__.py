"""Subcommands of the ``semsearch`` CLI, one module each (see ``service.cli.COMMANDS``)."""
