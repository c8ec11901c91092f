import sys

from cwlint.cli import main

sys.exit(main())
