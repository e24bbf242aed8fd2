"""``python -m dhstats.simulate``: the ``dhstats simulate`` command."""
import sys

from dhstats.simulate.command import main

sys.exit(main())
