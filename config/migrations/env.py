"""Alembic environment for the sandbox's example schema.

pinback passes an open connection in ``config.attributes["connection"]`` so the
migration runs inside the lock it holds; the plain ``alembic`` CLI works too, from
``sqlalchemy.url``. Logging is left to the host: no ``fileConfig`` here, because it
would disable every logger the host process had set up.
"""

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run_migrations(connection):  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.begin() as connection:
        run_migrations(connection)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_online()
