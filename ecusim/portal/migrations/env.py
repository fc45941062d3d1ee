"""Alembic environment of the portal: runs against the engine given by
:func:`ecusim.portal.db.upgrade` (``config.attributes["engine"]``), or ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

from ecusim.portal.models import Base

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no engine and no sqlalchemy.url: use ecusim.portal.db.upgrade()")
    return create_engine(url)


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
