"""``python -m exoreg_gui [REGISTRY]``."""

import sys

from exoreg_gui.app import main

sys.exit(main())
