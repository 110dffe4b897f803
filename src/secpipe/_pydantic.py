"""Imported before secpipe builds any pydantic model (config_models, suppressions_file)."""


def _no_pydantic_plugins() -> None:
    """secpipe's models are its own: pydantic's plugin lookup (on the first model built)
    reads every installed package's entry points, 50 ms of each run's start-up, to find
    plugins secpipe does not use. Setting its cache to "none found" skips the lookup; a
    pydantic without that cache just looks as before."""
    from pydantic.plugin import _loader

    if getattr(_loader, "_plugins", ()) is None:
        _loader._plugins = {}


_no_pydantic_plugins()
