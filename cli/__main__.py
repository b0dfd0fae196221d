"""`python -m zats.cli` runs the `zats` command."""

from .app import main

main()
