"""``python -m vizctl``."""

import sys

from vizctl.cli import main

sys.exit(main())
