import sys

from s3.cli import main

sys.exit(main())
