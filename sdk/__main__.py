import sys

from stylecloak.cli import main

sys.exit(main())
