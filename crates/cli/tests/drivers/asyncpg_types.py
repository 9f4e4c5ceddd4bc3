"""asyncpg against `pgscram serve`: result types arrive as Python types (asyncpg asks
for binary results), a statement that fails at Parse answers at once (asyncpg
sends Parse/Describe/Flush and waits), and arrays go through asyncpg's type
introspection."""
import asyncio
import decimal
import os
import sys

import asyncpg


async def main():
    c = await asyncpg.connect(host="127.0.0.1", port=int(os.environ["PGPORT"]),
                              user="postgres", password=os.environ["PGPASSWORD"],
                              database="postgres", ssl=False)
    r = await c.fetchrow("SELECT true AS b, 1.5::numeric AS n, 1+1 AS i, 'x'::text AS s")
    assert r["b"] is True, r
    assert r["n"] == decimal.Decimal("1.5") and isinstance(r["n"], decimal.Decimal), r
    assert r["i"] == 2 and r["s"] == "x", r
    assert await c.fetchval("SELECT $1::int4 + 1", 41) == 42
    assert await c.fetchval("SELECT $1::numeric", decimal.Decimal("-12.50")) == decimal.Decimal("-12.50")
    assert await c.fetchval("SELECT 'abc'::bytea") == b"abc"
    try:
        await asyncio.wait_for(c.fetch("SELECT no_such_column FROM pg_roles"), 10)
        raise AssertionError("a bad column must fail")
    except asyncpg.PostgresError as e:
        assert e.sqlstate == "42703", e.sqlstate
    assert await c.fetchval("SELECT 7") == 7
    # Arrays are not builtin codecs in asyncpg: it runs its settings dance
    # (here current_setting('jit') fails with 42704, which it expects) and its recursive
    # type-introspection query over pg_type, then decodes binary arrays.
    assert await c.fetchval("SELECT ARRAY[1,2]") == [1, 2]
    assert await c.fetchval("SELECT ARRAY['a','b c']::text[]") == ["a", "b c"]
    assert await c.fetchval("SELECT $1::int4[]", [3, None, 4]) == [3, None, 4]
    assert await c.fetchval("SELECT $1::text[]", ["x y", "", "NULL"]) == ["x y", "", "NULL"]
    assert await c.fetchval("SELECT 2 = any($1::int4[])", [1, 2]) is True
    # Array columns: parameters typed by the column, rows decoded as lists.
    await c.execute("CREATE TABLE arrs (id int PRIMARY KEY, xs int4[], ts text[])")
    await c.execute("INSERT INTO arrs VALUES ($1, $2, $3)", 1, [1, None, 3], ["a b", "c"])
    await c.execute("INSERT INTO arrs VALUES (2, ARRAY[7], '{x}')")
    rows = await c.fetch("SELECT xs, ts FROM arrs ORDER BY id")
    assert [tuple(r) for r in rows] == [([1, None, 3], ["a b", "c"]), ([7], ["x"])], rows
    assert await c.fetchval("SELECT id FROM arrs WHERE 7 = ANY(xs)") == 2
    try:
        await c.fetchval("SELECT current_setting('no_such_parameter')")
        raise AssertionError("an unknown parameter must fail")
    except asyncpg.UndefinedObjectError:
        pass
    assert await c.fetchval("SELECT set_config('application_name', $1, false)", "drv") == "drv"
    assert await c.fetchval("SELECT current_setting('application_name')") == "drv"
    await c.close()


asyncio.run(main())
print("ok")
