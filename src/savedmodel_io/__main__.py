"""``python -m savedmodel_io`` is the ``savedmodel-io`` command."""

import sys

from savedmodel_io.cli.main import main

sys.exit(main())
