import sys

from netdiffus.cli.main import main

sys.exit(main())
