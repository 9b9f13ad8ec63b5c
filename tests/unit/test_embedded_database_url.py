import os
from pathlib import Path

from portcert_runtime.database import running_embedded_postgres_url


def _postmaster_pid(directory: Path, pid: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [str(pid), str(directory), "1733240000", "5432", str(directory), "", ""]
    (directory / "postmaster.pid").write_text("\n".join(lines))


def test_a_running_server_is_found_by_its_socket_directory(tmp_path: Path) -> None:
    _postmaster_pid(tmp_path / "postgres", os.getpid())

    url = running_embedded_postgres_url(tmp_path / "postgres")

    assert url == f"postgresql://postgres@/postgres?host={tmp_path / 'postgres'}"


def test_a_stale_lock_file_or_none_means_no_server(tmp_path: Path) -> None:
    _postmaster_pid(tmp_path / "stale", 2**22 + 12345)

    assert running_embedded_postgres_url(tmp_path / "stale") is None
    assert running_embedded_postgres_url(tmp_path / "absent") is None
