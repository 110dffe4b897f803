"""Runtime protection: Falco alerts into the hub (intake, dedup, correlation with the run that
shipped the image), Falco deployment as code, and a Falco rules engine for secpipe's own sensor.
"""
