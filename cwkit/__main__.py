import sys

from cwkit.cli import main

sys.exit(main())
