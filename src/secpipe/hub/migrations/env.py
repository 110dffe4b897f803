"""Alembic environment for the hub schema.

secpipe runs these migrations itself when a store is opened (`open_store` hands a connection
in through `config.attributes`); the fallback to `sqlalchemy.url` lets an operator run the
`alembic` command against a PostgreSQL hub by hand.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from secpipe.hub.schema import metadata

VERSION_TABLE = "secpipe_hub_version"

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      version_table=VERSION_TABLE, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
