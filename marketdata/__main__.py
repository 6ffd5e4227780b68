"""`python -m marketdata` is the `marketdata` command."""

from marketdata.cli import main

raise SystemExit(main())
