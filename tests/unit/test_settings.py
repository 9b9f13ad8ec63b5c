from pathlib import Path

import pytest

from portcert_runtime.settings import SettingsError, load_settings

SECRET = "hunter2-do-not-print"


def test_no_variables_give_the_embedded_setup() -> None:
    settings = load_settings({})

    assert settings.uses_embedded_database
    assert settings.queue_backend == "postgres"
    assert settings.blob_backend == "local"
    assert settings.blob_dir == Path("var/blobs")
    assert settings.host == "127.0.0.1"
    assert settings.s3_presign_seconds == 300


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("PORTCERT_VERIFIER_PORT", "abc", "valid integer"),
        ("PORTCERT_CERTIFIER_PORT", "70000", "less than or equal to 65535"),
        ("PORTCERT_BLOB_BACKEND", "gcs", "'local' or 's3'"),
        ("PORTCERT_S3_PRESIGN_SECONDS", "30", "greater than or equal to 60"),
        ("PORTCERT_S3_PRESIGN_SECONDS", "7200", "less than or equal to 3600"),
        ("PORTCERT_S3_BUCKET", "Port_Docs", "match pattern"),
        ("PORTCERT_S3_ENDPOINT_URL", "minio:9000", "match pattern"),
    ],
)
def test_bad_value_is_refused_naming_its_variable_and_rule(
    variable: str, value: str, rule: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: value})

    assert f"{variable}: " in str(raised.value)
    assert rule in str(raised.value)


def test_s3_backend_without_bucket_names_the_missing_variable() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"PORTCERT_BLOB_BACKEND": "s3"})

    assert str(raised.value) == (
        "invalid settings: PORTCERT_S3_BUCKET: required when "
        "PORTCERT_BLOB_BACKEND is s3"
    )


def test_s3_backend_with_bucket_is_accepted() -> None:
    settings = load_settings(
        {
            "PORTCERT_BLOB_BACKEND": "s3",
            "PORTCERT_S3_BUCKET": "container-docs-primary-us-east-1",
            "PORTCERT_S3_REGION": "us-east-1",
            "PORTCERT_S3_KMS_KEY_ID": "alias/portcert-blobs",
        }
    )

    assert settings.blob_backend == "s3"
    assert settings.s3_bucket == "container-docs-primary-us-east-1"
    assert settings.s3_kms_key_id == "alias/portcert-blobs"


def test_mysql_database_url_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"PORTCERT_DATABASE_URL": f"mysql://portcert:{SECRET}@db/pc"})

    assert "PORTCERT_DATABASE_URL: " in str(raised.value)
    assert "postgresql://" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_database_password_never_appears_in_repr_or_str() -> None:
    settings = load_settings(
        {
            "PORTCERT_DATABASE_URL": f"postgresql://portcert:{SECRET}@db/pc",
            "PORTCERT_DATABASE_READER_URL": f"postgresql://portcert:{SECRET}@ro/pc",
        }
    )

    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert settings.database_url is not None
    assert SECRET in settings.database_url.get_secret_value()


def test_aws_credentials_are_not_settings_and_their_values_are_not_echoed() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"PORTCERT_AWS_SECRET_ACCESS_KEY": SECRET})

    assert "PORTCERT_AWS_SECRET_ACCESS_KEY: Extra inputs" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_settings_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    settings_file = tmp_path / "portcert.env"
    settings_file.write_text(
        "PORTCERT_VERIFIER_PORT=6000\n"
        "PORTCERT_LOG_LEVEL=DEBUG\n"
        "PORTCERT_BLOB_BACKEND=s3\n"
        "PORTCERT_S3_BUCKET=portcert-from-file\n"
    )

    settings = load_settings(
        {
            "PORTCERT_SETTINGS_FILE": str(settings_file),
            "PORTCERT_VERIFIER_PORT": "7000",
        }
    )

    assert settings.verifier_port == 7000
    assert settings.log_level == "DEBUG"
    assert settings.s3_bucket == "portcert-from-file"


def test_missing_settings_file_names_its_variable(tmp_path: Path) -> None:
    absent = tmp_path / "absent.env"

    with pytest.raises(SettingsError, match="PORTCERT_SETTINGS_FILE: no such file"):
        load_settings({"PORTCERT_SETTINGS_FILE": str(absent)})
