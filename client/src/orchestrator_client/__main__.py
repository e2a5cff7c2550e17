"""`python -m orchestrator_client`: the `orchestrator` command."""

import sys

from orchestrator_client.cli import main

sys.exit(main())
