"""``python -m selfmodel``: the same as the ``selfmodel`` command."""

import sys

from selfmodel.cli import main

sys.exit(main())
