"""`python -m slimir ...`: the `slimir` command (see slimir.runtime.cli)."""

import sys

from slimir.runtime.cli import main

if __name__ == "__main__":
    sys.exit(main())
