"""The settings mypy's Django plugin loads: the test settings, without a database.

settings_test starts the embedded PostgreSQL when DATABASE_URL is unset; type checking
only imports the settings and the models, so a URL that is never connected to stands in.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://typecheck@127.0.0.1:5432/typecheck")

from orchestrator_site.settings_test import *  # noqa: E402,F403
