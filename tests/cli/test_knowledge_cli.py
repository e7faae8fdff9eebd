"""``madoguchi knowledge import`` as an operator runs it (real subprocess, real folder)."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.store.db import Database
from madoguchi.store.models import KnowledgeArticle
from tests.cli.test_user_cli import cli  # noqa: F401  (the fixture)


async def test_import_a_folder_twice_and_a_bad_file(cli, tmp_path):  # noqa: F811
    assert cli("token", "create", "--workspace", "acme").returncode == 0
    folder = tmp_path / "kb"
    (folder / "ja").mkdir(parents=True)
    (folder / "returns.md").write_text("---\ntitle: Returns\ntags: [returns]\n---\n30 days.")
    (folder / "ja" / "hours.md").write_text("# 営業時間\n\n平日9時から18時まで。")
    done = cli("knowledge", "import", str(folder), "--workspace", "acme")
    assert done.returncode == 0, done.stderr
    assert "created: 2" in done.stdout
    again = cli("knowledge", "import", str(folder), "--workspace", "acme")
    assert "unchanged: 2" in again.stdout

    (folder / "empty.md").write_text("---\ntitle: Empty\n---\n")
    bad = cli("knowledge", "import", str(folder), "--workspace", "acme")
    assert bad.returncode == 1 and "empty.md: the article has no text" in bad.stderr
    assert cli("knowledge", "import", str(folder), "--workspace", "nope").returncode == 2
    assert cli("knowledge", "import", str(folder / "x"), "--workspace", "acme").returncode == 2

    db = Database(cli.url)
    try:
        async with db.read() as session:
            rows = (await session.scalars(select(KnowledgeArticle))).all()
            assert sorted((r.slug, r.language) for r in rows) == [
                ("hours", "ja"),
                ("returns", "en"),
            ]
    finally:
        await db.dispose()
