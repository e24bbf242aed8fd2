import sys

from dhstats.cli import main

sys.exit(main())
