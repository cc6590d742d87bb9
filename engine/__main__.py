"""``python -m engine`` is the ``insider`` command."""

import sys

from engine.cli.main import main

sys.exit(main())
