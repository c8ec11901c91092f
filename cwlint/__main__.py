from cwlint.cli import main
import sys
sys.exit(main())
