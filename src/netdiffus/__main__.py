"""``python -m netdiffus``: the command line (netdiffus.cli.main)."""

import sys

from netdiffus.cli.main import main

sys.exit(main())
