"""`python -m secpipe.engines.baseline -t URL [-c rules] [-J report.json] [-r report.html]`."""

from secpipe.engines.baseline.scan import main

raise SystemExit(main())
