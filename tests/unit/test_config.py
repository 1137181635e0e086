from pathlib import Path

import pytest

from policy_service.config import ConfigError, Settings


def test_settings_come_from_policy_service_variables() -> None:
    settings = Settings.from_env(
        {
            "POLICY_SERVICE_DATABASE_URL": "postgresql://db/x",
            "POLICY_SERVICE_SYNC_INTERVAL": "0.25",
            "POLICY_SERVICE_POLICY_PACK": "/srv/pack",
        }
    )
    assert settings.database_url == "postgresql://db/x"
    assert settings.sync_interval == 0.25
    assert settings.policy_pack == Path("/srv/pack")


def test_the_default_database_is_a_sqlite_file_under_instance() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///")
    assert "/instance/" in settings.database_url


def test_a_bad_value_fails_fast_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="POLICY_SERVICE_SYNC_INTERVAL"):
        Settings.from_env({"POLICY_SERVICE_SYNC_INTERVAL": "soon"})
    with pytest.raises(ConfigError, match="POLICY_SERVICE_LOG_FORMAT"):
        Settings.from_env({"POLICY_SERVICE_LOG_FORMAT": "xml"})


def test_production_requires_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"POLICY_SERVICE_ENVIRONMENT": "production"})


def test_every_setting_is_documented_and_secrets_show_no_default() -> None:
    rows = Settings.documentation()
    assert all(name.startswith("POLICY_SERVICE_") and doc for name, _, doc in rows)
    assert {name: default for name, default, _ in rows}["POLICY_SERVICE_SECRET_KEY"] == ""
