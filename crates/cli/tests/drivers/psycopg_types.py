"""psycopg 3 against `pgscram serve`: text and binary results, parameters, and the
type introspection TypeInfo.fetch runs."""
import decimal
import os

import psycopg
from psycopg.types import TypeInfo

with psycopg.connect(host="127.0.0.1", port=int(os.environ["PGPORT"]), user="postgres",
                     password=os.environ["PGPASSWORD"], dbname="postgres",
                     sslmode="disable") as c:
    row = c.execute("SELECT true AS b, 1.5::numeric AS n").fetchone()
    assert row == (True, decimal.Decimal("1.5")), row
    with c.cursor(binary=True) as cur:
        row = cur.execute("SELECT true, 1.5::numeric, 'x'::text, 7::int8").fetchone()
        assert row == (True, decimal.Decimal("1.5"), "x", 7), row
    assert c.execute("SELECT %s::int4 + 1", [41]).fetchone() == (42,)
    names = c.execute("SELECT ARRAY(SELECT rolname FROM pg_roles WHERE rolname = 'postgres')").fetchone()
    assert names == (["postgres"],), names
    for name, oid, array_oid in [("int4", 23, 1007), ("text", 25, 1009), ("integer", 23, 1007)]:
        info = TypeInfo.fetch(c, name)
        assert info is not None and (info.oid, info.array_oid) == (oid, array_oid), (name, info)
    assert TypeInfo.fetch(c, "no_such_type") is None
    # Array types by their own name and as name[]; builtin types know their array.
    for name in ["_int4", "int4[]", "integer[]", "text[]"]:
        info = TypeInfo.fetch(c, name)
        assert info is not None and info.name in ("_int4", "_text"), (name, info)
        assert info.regtype in ("integer[]", "text[]"), (name, info.regtype)
    assert TypeInfo.fetch(c, "numeric").array_oid == 1231
    assert c.execute("SELECT %s::int4[]", [[1, None, 3]]).fetchone() == ([1, None, 3],)
    # A Decimal parameter is sent as numeric: the result column is numeric too.
    got = c.execute("SELECT %s", [decimal.Decimal("2.25")]).fetchone()[0]
    assert isinstance(got, decimal.Decimal) and got == decimal.Decimal("2.25"), repr(got)
print("ok")
