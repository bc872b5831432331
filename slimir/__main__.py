"""`python -m slimir ...`: the `slimir` command (see slimir.apps.cli)."""

import sys

from slimir.apps.cli import main

if __name__ == "__main__":
    sys.exit(main())
