"""``python -m volley.testing``: run the fake provider server."""

import sys

from ._cli import main

sys.exit(main())
