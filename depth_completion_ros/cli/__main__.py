"""``python -m depth_completion_ros.cli``: the ``depth-completion`` console script."""
import sys

from . import main

sys.exit(main())
