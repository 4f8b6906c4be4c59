"""``python -m awsasyncwrap.testbed``."""

from awsasyncwrap.testbed._cli import main

raise SystemExit(main())
