"""`python -m crisiscomms_local.drill [SCENARIO.json ...] [--json OUT.json]`"""
import sys

from crisiscomms_local.drill.runner import main

sys.exit(main(sys.argv[1:]))
