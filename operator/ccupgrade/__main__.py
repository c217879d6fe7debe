"""`python -m ccupgrade run …`"""

import sys

from ccupgrade.cli import main

sys.exit(main())
