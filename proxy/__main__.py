"""`python -m proxy` runs the `picstream` command."""

import sys

from .cli import main

sys.exit(main())
