"""`python -m zats.broker`: the same as `zats-server`."""

import sys

from .cli import main

sys.exit(main())
