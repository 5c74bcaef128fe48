"""``python -m keeper`` runs the CLI."""

from keeper.cli import main

raise SystemExit(main())
