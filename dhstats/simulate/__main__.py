"""``python -m dhstats.simulate``: the ``dhstats simulate`` command."""
import sys

from .command import main

sys.exit(main())
