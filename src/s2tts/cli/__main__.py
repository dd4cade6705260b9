import sys

from s2tts.cli import main

sys.exit(main())
