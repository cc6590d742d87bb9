"""``python -m engine`` is the ``insider`` command."""

import sys

from engine.cli import main

sys.exit(main())
