"""``python -m wattyear``: the ``wattyear`` command."""

import sys

from wattyear.experiments.cli import main

sys.exit(main())
