from sqlalchemy import Engine, inspect


def test_migrations_create_the_service_tables(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"accounts", "principals", "api_tokens", "memberships", "sync_state"} <= tables
