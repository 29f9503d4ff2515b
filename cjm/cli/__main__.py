"""`python -m cjm.cli`: the `cjm` command without the console script."""

import sys

from cjm.cli.main import main

sys.exit(main())
