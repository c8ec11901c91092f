"""``python -m cwtest``: the same as the ``cwtest`` console script."""

from cwtest.cli import main

raise SystemExit(main())
