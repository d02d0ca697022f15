"""What keeps the move to Citus schema-based sharding a configuration change (docs/scaling.md).

An instance schema must stand alone: no foreign key and no column default reaches another
schema, so each one can live on its own node as a distributed schema while the platform's
public tables become reference tables.
"""

from django.db import connection


def _instance_schemas() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT schema_name FROM public.tenancy_reseller ORDER BY 1")
        return [row[0] for row in cursor.fetchall()]


def test_no_foreign_key_crosses_from_one_schema_into_another(instance_a, instance_b):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n1.nspname || '.' || c1.relname || ' -> ' || n2.nspname || '.' || c2.relname "
            "FROM pg_constraint k "
            "JOIN pg_class c1 ON c1.oid = k.conrelid "
            "JOIN pg_namespace n1 ON n1.oid = c1.relnamespace "
            "JOIN pg_class c2 ON c2.oid = k.confrelid "
            "JOIN pg_namespace n2 ON n2.oid = c2.relnamespace "
            "WHERE k.contype = 'f' AND n1.nspname <> n2.nspname"
        )
        crossing = [row[0] for row in cursor.fetchall()]
    assert {instance_a.schema_name, instance_b.schema_name} <= set(_instance_schemas())
    assert crossing == []


def test_every_instance_numbers_its_rows_with_sequences_of_its_own_schema(instance_a):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname || '.' || a.attname, pg_get_expr(d.adbin, d.adrelid) "
            "FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE n.nspname = %s AND pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval%%'",
            [instance_a.schema_name],
        )
        defaults = cursor.fetchall()
        # Identity columns (Django's default) own a sequence in the table's schema.
        cursor.execute(
            "SELECT count(*) FROM pg_depend dep "
            "JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S' "
            "JOIN pg_class t ON t.oid = dep.refobjid "
            "WHERE t.relnamespace = %s::regnamespace AND s.relnamespace <> t.relnamespace",
            [instance_a.schema_name],
        )
        foreign_sequences = cursor.fetchone()[0]
    assert foreign_sequences == 0
    for column, default in defaults:
        assert "public." not in default and "r_" not in default.replace(
            instance_a.schema_name, ""
        ), (column, default)
