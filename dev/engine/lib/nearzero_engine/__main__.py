"""``python3 -m nearzero_engine --config PATH``."""

import sys

from .service import main

sys.exit(main())
