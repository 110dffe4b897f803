"""`ConfigError`, apart from `secpipe.config` so that `config_models` (which `config` imports
when a file is read) can raise it without an import circle."""


class ConfigError(Exception):
    """The configuration is unusable; the message names the file, key and line."""
