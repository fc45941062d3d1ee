"""``python -m ecusim``."""

import sys

from ecusim.cli.main import main

sys.exit(main())
