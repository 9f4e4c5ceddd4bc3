-- psql 15.18 `\deu` (captured with psql -E against PostgreSQL 15.18)
-- query
SELECT um.srvname AS "Server",
  um.usename AS "User name"
FROM pg_catalog.pg_user_mappings um
ORDER BY 1, 2;
