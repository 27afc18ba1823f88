-- PostGraphile 4's side of the benchmark: the API schema it serves over the benchmark database, written as a
-- PostGraphile user would write it (views with smart comments, STABLE SQL functions, row-level security), for the
-- same four reads as bench/operations.py: (1) a partner's attributed subscriptions, (3) a subscription with its
-- Digital Partner of Record, (2) a tenant's usage by month and service, (5) a partner's attributed usage by month.
--
-- Two variants are served from this one schema (bench/postgraphile/server.js):
--   no_auth  connects as the database owner (row-level security does not apply to it) and takes the partner of
--            (1) as an argument: the unsecured ceiling.
--   jwt_rls  connects as postgraphile_bench_authenticator and runs each request as postgraphile_bench_user (no
--            BYPASSRLS) with the verified token's claims in jwt.claims.*; the policies at the end of this file
--            give that role the rows the gateway's policy gives the token's roles (auth/policy.py READ, for the
--            roles the benchmark's tokens hold: tenant owner and partner; platform admins read all).
--
-- Usage follows the gateway's rules (resolvers/usage/attribution.py, aggregates.py): sums from the rollups
-- (whole months from usage_monthly_rollups, other days from usage_daily_rollups), attribution by the seconds of
-- each UTC day an association was in effect, attributed amounts summed exactly and rounded half to even to the
-- currency's minor unit only at the end, rows ordered by the text of their keys.
--
-- Idempotent: both schemas are dropped (with the policies that use their functions) and made again. The roles
-- are cluster-wide and made once. The gateway is not affected: it connects as the tables' owner, which RLS
-- does not restrict. bench.postgraphile.database applies this file and fills the two lookup tables.

DROP POLICY IF EXISTS postgraphile_bench_read ON public.tenants;
DROP POLICY IF EXISTS postgraphile_bench_read ON public.partners;
DROP POLICY IF EXISTS postgraphile_bench_read ON public.subscriptions;
DROP POLICY IF EXISTS postgraphile_bench_read ON public.partner_associations;
DROP POLICY IF EXISTS postgraphile_bench_read ON public.usage_daily_rollups;
DROP POLICY IF EXISTS postgraphile_bench_read ON public.usage_monthly_rollups;
DROP SCHEMA IF EXISTS postgraphile_bench CASCADE;
DROP SCHEMA IF EXISTS postgraphile_bench_private CASCADE;
CREATE SCHEMA postgraphile_bench_private;
CREATE SCHEMA postgraphile_bench;
COMMENT ON SCHEMA postgraphile_bench IS 'The API PostGraphile exposes for the dpor-gateway benchmark.';

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postgraphile_bench_user') THEN
    CREATE ROLE postgraphile_bench_user NOLOGIN NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postgraphile_bench_authenticator') THEN
    CREATE ROLE postgraphile_bench_authenticator LOGIN NOINHERIT NOBYPASSRLS;
  END IF;
END
$$;
GRANT postgraphile_bench_user TO postgraphile_bench_authenticator;


-- Lookup tables, filled from the gateway's own definitions (bench.postgraphile.database): one source of truth.
CREATE TABLE postgraphile_bench_private.currency_minor_units (
  currency text PRIMARY KEY,
  digits integer NOT NULL
);
CREATE TABLE postgraphile_bench_private.scope_roles (
  scope text PRIMARY KEY,
  role text NOT NULL
);


-- ---------------------------------------------------------------------------------------------------------------
-- The caller, from the verified token's claims (PostGraphile sets jwt.claims.<claim> for each claim). SECURITY
-- DEFINER: they look rows up past the policies they serve. PL/pgSQL because PostgreSQL 15 plans the query of a
-- SQL function it cannot inline at every call, PL/pgSQL once per connection. Policies and functions call them as
-- (SELECT f()), an InitPlan: once per statement, not once per row.

CREATE FUNCTION postgraphile_bench_private.caller_roles() RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  RETURN (
    SELECT coalesce(array_agg(r.role), '{}')
    FROM postgraphile_bench_private.scope_roles r
    WHERE r.scope = ANY (string_to_array(current_setting('jwt.claims.scope', true), ' '))
  );
END
$$;

-- The tenant of a tenant role (OWNER, SERVICE_ADMIN, CO_ADMIN read their own tenant), by the token's `tid`.
CREATE FUNCTION postgraphile_bench_private.caller_tenant_id() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  IF NOT postgraphile_bench_private.caller_roles() && ARRAY['OWNER', 'SERVICE_ADMIN', 'CO_ADMIN'] THEN
    RETURN NULL;
  END IF;
  RETURN (
    SELECT t.id FROM public.tenants t WHERE t.external_id = nullif(current_setting('jwt.claims.tid', true), '')::uuid
  );
END
$$;

-- The partner of a PARTNER token, by the token's `partner_id` (its MPN id).
CREATE FUNCTION postgraphile_bench_private.caller_partner_id() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  IF NOT 'PARTNER' = ANY (postgraphile_bench_private.caller_roles()) THEN
    RETURN NULL;
  END IF;
  RETURN (SELECT p.id FROM public.partners p WHERE p.mpn_id = current_setting('jwt.claims.partner_id', true));
END
$$;

CREATE FUNCTION postgraphile_bench_private.caller_reads_all() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  RETURN 'PLATFORM_ADMIN' = ANY (postgraphile_bench_private.caller_roles());
END
$$;

-- The partner directory is open to tenant roles and platform admins; a partner sees only itself.
CREATE FUNCTION postgraphile_bench_private.caller_reads_partner_directory() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  RETURN postgraphile_bench_private.caller_roles()
    && ARRAY['OWNER', 'SERVICE_ADMIN', 'CO_ADMIN', 'DELEGATED_ADMIN', 'PLATFORM_ADMIN'];
END
$$;

-- The subscriptions of the caller's tenant.
CREATE FUNCTION postgraphile_bench_private.caller_tenant_subscription_ids() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  RETURN (
    SELECT coalesce(array_agg(s.id), '{}') FROM public.subscriptions s
    WHERE s.tenant_id = postgraphile_bench_private.caller_tenant_id()
  );
END
$$;

-- Subscriptions the caller reads: its tenant's, and those its partner is or was associated with (any type).
CREATE FUNCTION postgraphile_bench_private.caller_subscription_ids() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  RETURN (
    SELECT coalesce(array_agg(ids.id), '{}') FROM (
      SELECT unnest(postgraphile_bench_private.caller_tenant_subscription_ids()) AS id
      UNION
      SELECT a.subscription_id FROM public.partner_associations a
      WHERE a.partner_id = postgraphile_bench_private.caller_partner_id()
    ) ids
  );
END
$$;

-- Tenants the caller reads: its own, and those holding a subscription attributed to its partner.
CREATE FUNCTION postgraphile_bench_private.caller_tenant_ids() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  RETURN (
    SELECT coalesce(array_agg(ids.id), '{}') FROM (
      SELECT postgraphile_bench_private.caller_tenant_id() AS id
      UNION
      SELECT s.tenant_id FROM public.subscriptions s
      WHERE s.id IN (
        SELECT a.subscription_id FROM public.partner_associations a
        WHERE a.partner_id = postgraphile_bench_private.caller_partner_id()
      )
    ) ids
    WHERE ids.id IS NOT NULL
  );
END
$$;

-- The partner a read is for: the one named (no_auth passes it) or else the caller's own (jwt_rls). Callers use it
-- as (SELECT partner_of(...)): one lookup per statement.
CREATE FUNCTION postgraphile_bench_private.partner_of(partner_mpn_id text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF partner_mpn_id IS NULL THEN
    RETURN postgraphile_bench_private.caller_partner_id();
  END IF;
  RETURN (SELECT p.id FROM public.partners p WHERE p.mpn_id = partner_mpn_id);
END
$$;


-- ---------------------------------------------------------------------------------------------------------------
-- Usage arithmetic.

-- The months lying wholly inside [first_day, last_day], as the first days of the first and the last of them
-- (lo > hi when there is none).
CREATE FUNCTION postgraphile_bench_private.whole_months(first_day date, last_day date, OUT lo date, OUT hi date)
LANGUAGE sql IMMUTABLE AS $$
  SELECT (date_trunc('month', first_day - 1) + interval '1 month')::date,
         (date_trunc('month', last_day + 1) - interval '1 month')::date
$$;

-- The days of [first_day, last_day] outside the months lo..hi (all of them when lo > hi): at most two ranges.
CREATE FUNCTION postgraphile_bench_private.days_outside(window_first date, window_last date, lo date, hi date)
RETURNS TABLE (first_day date, last_day date)
LANGUAGE sql IMMUTABLE AS $$
  SELECT r.first_day, r.last_day
  FROM (VALUES
    (window_first, CASE WHEN lo <= hi THEN lo - 1 ELSE window_last END),
    (CASE WHEN lo <= hi THEN (hi + interval '1 month')::date END, window_last)
  ) r (first_day, last_day)
  WHERE r.first_day <= r.last_day
$$;

-- The rollup rows of a partner's usage in [first_day, last_day] (of the given subscriptions, or all of them when
-- NULL), each with the seconds its association type was in effect for the partner: the months an association
-- covers whole as monthly rows (seconds = a day's 86,400: the whole amount), every other day it touches as a
-- daily row with its seconds (a day it only touches at midnight has none and is left out). A daily row reached by
-- two intervals of the same type (ended at 10:00, started again at 14:00) is one row with their seconds added.
CREATE FUNCTION postgraphile_bench_private.attributed_rollups(
  partner uuid, subscription_ids uuid[], first_day date, last_day date
) RETURNS TABLE (
  subscription_id uuid, association_type text, whole_month boolean, period date, service_name text,
  currency text, quantity numeric, amount numeric, seconds bigint
)
LANGUAGE sql STABLE AS $$
  WITH associations AS (
    SELECT a.subscription_id, a.type,
           a.valid_from AT TIME ZONE 'UTC' AS starts, a.valid_to AT TIME ZONE 'UTC' AS ends
    FROM public.partner_associations a
    -- (SELECT partner): the partner is looked up once per statement, however many rows call this.
    WHERE a.partner_id = (SELECT partner)
      AND (subscription_ids IS NULL OR a.subscription_id = ANY (subscription_ids))
      AND a.valid_from < ((last_day + 1)::timestamp AT TIME ZONE 'UTC')
      AND (a.valid_to IS NULL OR a.valid_to > (first_day::timestamp AT TIME ZONE 'UTC'))
  ),
  spans AS (
    -- The window's days the association touches, and the months of them it covers whole: from its first
    -- whole day (the day after that of valid_from - 1 s) to the day before valid_to's (never whole).
    SELECT a.*, touched.touched_first, touched.touched_last, months.lo, months.hi
    FROM associations a
    CROSS JOIN LATERAL (
      SELECT greatest(first_day, a.starts::date) AS touched_first,
             least(last_day, coalesce((a.ends - interval '1 second')::date, last_day)) AS touched_last
    ) touched
    CROSS JOIN LATERAL postgraphile_bench_private.whole_months(
      greatest(first_day, (a.starts - interval '1 second')::date + 1),
      least(last_day, coalesce(a.ends::date - 1, last_day))
    ) months
  ),
  parts AS (
    SELECT s.subscription_id, s.type, true AS whole_month, m.month AS period, m.service_name, m.currency,
           m.quantity, m.amount, 86400::bigint AS seconds
    FROM spans s
    JOIN public.usage_monthly_rollups m ON m.subscription_id = s.subscription_id AND m.month BETWEEN s.lo AND s.hi
    UNION ALL
    SELECT s.subscription_id, s.type, false, d.usage_date, d.service_name, d.currency, d.quantity, d.amount,
           extract(epoch FROM
             least((d.usage_date + 1)::timestamp, coalesce(s.ends, 'infinity'))
             - greatest(d.usage_date::timestamp, s.starts)
           )::bigint
    FROM spans s
    CROSS JOIN LATERAL postgraphile_bench_private.days_outside(s.touched_first, s.touched_last, s.lo, s.hi) r
    JOIN public.usage_daily_rollups d
      ON d.subscription_id = s.subscription_id AND d.usage_date BETWEEN r.first_day AND r.last_day
  )
  SELECT r.subscription_id, r.type, r.whole_month, r.period, r.service_name, r.currency,
         max(r.quantity), max(r.amount), sum(r.seconds)::bigint
  FROM parts r
  WHERE r.seconds > 0
  GROUP BY r.subscription_id, r.type, r.whole_month, r.period, r.service_name, r.currency
$$;

-- An attributed amount held exactly as the sum of amount x seconds, as the gateway presents it: amount / 86,400
-- rounded half to even to the currency's minor unit (resolvers/usage/currencies.py `present`), as text with
-- exactly that many decimals.
CREATE FUNCTION postgraphile_bench_private.present_amount(amount_seconds numeric, currency text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT round(rounded.units * power(10::numeric, -rounded.digits), rounded.digits)::text
  FROM (
    SELECT parts.digits,
           CASE WHEN 2 * abs(parts.remainder) > 86400 OR (2 * abs(parts.remainder) = 86400 AND mod(parts.whole, 2) <> 0)
                THEN parts.whole + sign(parts.scaled) ELSE parts.whole END AS units
    FROM (
      SELECT scaled.digits, scaled.value AS scaled, div(scaled.value, 86400) AS whole,
             scaled.value - div(scaled.value, 86400) * 86400 AS remainder
      FROM (
        SELECT u.digits, amount_seconds * power(10::numeric, u.digits) AS value
        FROM postgraphile_bench_private.currency_minor_units u
        WHERE u.currency = present_amount.currency
      ) scaled
    ) parts
  ) rounded
$$;


-- ---------------------------------------------------------------------------------------------------------------
-- The API: views over the gateway's tables (security_invoker, so the caller's policies apply to the tables
-- beneath), their keys and relations as smart comments, and computed columns and root functions for the reads.

CREATE VIEW postgraphile_bench.tenants WITH (security_invoker = true) AS
  SELECT t.id, t.display_name FROM public.tenants t;
COMMENT ON VIEW postgraphile_bench.tenants IS E'@primaryKey id\nA customer tenant.';

CREATE VIEW postgraphile_bench.partners WITH (security_invoker = true) AS
  SELECT p.id, p.name, p.mpn_id FROM public.partners p;
COMMENT ON VIEW postgraphile_bench.partners IS E'@primaryKey id\nA partner.';

CREATE VIEW postgraphile_bench.subscriptions WITH (security_invoker = true) AS
  SELECT s.id, s.tenant_id, s.display_name, s.status, s.created_at, s.version FROM public.subscriptions s;
COMMENT ON VIEW postgraphile_bench.subscriptions IS
  E'@primaryKey id\n@foreignKey (tenant_id) references postgraphile_bench.tenants (id)\nA subscription.';

CREATE VIEW postgraphile_bench.partner_associations WITH (security_invoker = true) AS
  SELECT a.id, a.subscription_id, a.partner_id, a.type, a.valid_from, a.valid_to FROM public.partner_associations a;
COMMENT ON VIEW postgraphile_bench.partner_associations IS
  E'@primaryKey id\n@foreignKey (subscription_id) references postgraphile_bench.subscriptions (id)\n'
  '@foreignKey (partner_id) references postgraphile_bench.partners (id)\nA partner association.';

CREATE TYPE postgraphile_bench.attributed_amount AS (association_type text, currency text, amount text);
CREATE TYPE postgraphile_bench.usage_by_month_service AS (
  month date, service text, currency text, quantity numeric, amount numeric
);
CREATE TYPE postgraphile_bench.attributed_usage_by_month AS (
  month date, association_type text, currency text, quantity numeric, amount numeric
);

-- (1) The subscriptions a partner is or was associated with, oldest first (created_at, then id).
CREATE FUNCTION postgraphile_bench.attributed_subscriptions(partner_mpn_id text DEFAULT NULL)
RETURNS SETOF postgraphile_bench.subscriptions
LANGUAGE sql STABLE AS $$
  SELECT s.* FROM postgraphile_bench.subscriptions s
  WHERE s.id IN (
    SELECT a.subscription_id FROM public.partner_associations a
    WHERE a.partner_id = (SELECT postgraphile_bench_private.partner_of(partner_mpn_id))
  )
  ORDER BY s.created_at, s.id
$$;
COMMENT ON FUNCTION postgraphile_bench.attributed_subscriptions(text) IS
  'A partner''s attributed subscriptions: the named partner''s, or the caller''s own.';

-- (1) The partner's association rows on a subscription, oldest first.
CREATE FUNCTION postgraphile_bench.subscriptions_partner_associations(
  s postgraphile_bench.subscriptions, partner_mpn_id text DEFAULT NULL
) RETURNS SETOF postgraphile_bench.partner_associations
LANGUAGE sql STABLE AS $$
  SELECT a.* FROM postgraphile_bench.partner_associations a
  WHERE a.subscription_id = s.id AND a.partner_id = (SELECT postgraphile_bench_private.partner_of(partner_mpn_id))
  ORDER BY a.valid_from, a.id
$$;
COMMENT ON FUNCTION postgraphile_bench.subscriptions_partner_associations(postgraphile_bench.subscriptions, text) IS
  '@simpleCollections only';

-- (1) A subscription's usage in [first_day, last_day] attributed to the partner: one row per association type
-- and currency.
CREATE FUNCTION postgraphile_bench.subscriptions_attributed_amounts(
  s postgraphile_bench.subscriptions, first_day date, last_day date, partner_mpn_id text DEFAULT NULL
) RETURNS SETOF postgraphile_bench.attributed_amount
LANGUAGE sql STABLE AS $$
  SELECT u.association_type, u.currency, postgraphile_bench_private.present_amount(sum(u.amount * u.seconds), u.currency)
  FROM postgraphile_bench_private.attributed_rollups(
    postgraphile_bench_private.partner_of(partner_mpn_id), ARRAY[s.id], first_day, last_day
  ) u
  GROUP BY u.association_type, u.currency
  ORDER BY u.association_type COLLATE "C", u.currency COLLATE "C"
$$;
COMMENT ON FUNCTION postgraphile_bench.subscriptions_attributed_amounts(
  postgraphile_bench.subscriptions, date, date, text
) IS '@simpleCollections only';

-- (3) A subscription's active Digital Partner of Record association.
CREATE FUNCTION postgraphile_bench.subscriptions_digital_partner_of_record(s postgraphile_bench.subscriptions)
RETURNS postgraphile_bench.partner_associations
LANGUAGE sql STABLE AS $$
  SELECT a.* FROM postgraphile_bench.partner_associations a
  WHERE a.subscription_id = s.id AND a.type = 'DIGITAL_PARTNER_OF_RECORD' AND a.valid_to IS NULL
$$;

-- (2) A tenant's usage in [first_day, last_day] by month, service and currency.
CREATE FUNCTION postgraphile_bench.tenants_usage(t postgraphile_bench.tenants, first_day date, last_day date)
RETURNS SETOF postgraphile_bench.usage_by_month_service
LANGUAGE sql STABLE AS $$
  WITH owned AS (
    SELECT s.id FROM public.subscriptions s WHERE s.tenant_id = t.id
  ),
  months AS (
    SELECT * FROM postgraphile_bench_private.whole_months(first_day, last_day)
  ),
  parts AS (
    SELECT m.month, m.service_name, m.currency, m.quantity, m.amount
    FROM owned o CROSS JOIN months w
    JOIN public.usage_monthly_rollups m ON m.subscription_id = o.id AND m.month BETWEEN w.lo AND w.hi
    UNION ALL
    SELECT date_trunc('month', d.usage_date)::date, d.service_name, d.currency, d.quantity, d.amount
    FROM owned o CROSS JOIN months w
    CROSS JOIN LATERAL postgraphile_bench_private.days_outside(first_day, last_day, w.lo, w.hi) r
    JOIN public.usage_daily_rollups d ON d.subscription_id = o.id AND d.usage_date BETWEEN r.first_day AND r.last_day
  )
  SELECT r.month, r.service_name, r.currency, sum(r.quantity), sum(r.amount)
  FROM parts r
  GROUP BY r.month, r.service_name, r.currency
  ORDER BY r.month, r.service_name COLLATE "C", r.currency COLLATE "C"
$$;
COMMENT ON FUNCTION postgraphile_bench.tenants_usage(postgraphile_bench.tenants, date, date) IS
  '@simpleCollections only';

-- (5) A partner's attributed usage in [first_day, last_day] by month, association type and currency: quantity
-- and amount of the subscription-days its associations were in effect for at least a second.
CREATE FUNCTION postgraphile_bench.partners_attributed_usage(p postgraphile_bench.partners, first_day date, last_day date)
RETURNS SETOF postgraphile_bench.attributed_usage_by_month
LANGUAGE sql STABLE AS $$
  SELECT u.month, u.association_type, u.currency, sum(u.quantity), sum(u.amount)
  FROM (
    SELECT date_trunc('month', r.period)::date AS month, r.association_type, r.currency, r.quantity, r.amount
    FROM postgraphile_bench_private.attributed_rollups(p.id, NULL, first_day, last_day) r
  ) u
  GROUP BY u.month, u.association_type, u.currency
  ORDER BY u.month, u.association_type COLLATE "C", u.currency COLLATE "C"
$$;
COMMENT ON FUNCTION postgraphile_bench.partners_attributed_usage(postgraphile_bench.partners, date, date) IS
  '@simpleCollections only';


-- ---------------------------------------------------------------------------------------------------------------
-- jwt_rls: what postgraphile_bench_user may read, row by row.

GRANT USAGE ON SCHEMA postgraphile_bench, postgraphile_bench_private, public TO postgraphile_bench_user;
GRANT SELECT ON ALL TABLES IN SCHEMA postgraphile_bench TO postgraphile_bench_user;
GRANT SELECT ON postgraphile_bench_private.currency_minor_units TO postgraphile_bench_user;
GRANT SELECT ON public.tenants, public.partners, public.subscriptions, public.partner_associations,
  public.usage_daily_rollups, public.usage_monthly_rollups TO postgraphile_bench_user;

ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.partners ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.partner_associations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.usage_daily_rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.usage_monthly_rollups ENABLE ROW LEVEL SECURITY;

CREATE POLICY postgraphile_bench_read ON public.tenants FOR SELECT TO postgraphile_bench_user USING (
  (SELECT postgraphile_bench_private.caller_reads_all())
  OR id = ANY ((SELECT postgraphile_bench_private.caller_tenant_ids())::uuid[])
);
CREATE POLICY postgraphile_bench_read ON public.partners FOR SELECT TO postgraphile_bench_user USING (
  (SELECT postgraphile_bench_private.caller_reads_partner_directory())
  OR id = (SELECT postgraphile_bench_private.caller_partner_id())
);
CREATE POLICY postgraphile_bench_read ON public.subscriptions FOR SELECT TO postgraphile_bench_user USING (
  (SELECT postgraphile_bench_private.caller_reads_all())
  OR id = ANY ((SELECT postgraphile_bench_private.caller_subscription_ids())::uuid[])
);
-- A tenant's admins see every association of its subscriptions; a partner only the rows naming it.
CREATE POLICY postgraphile_bench_read ON public.partner_associations FOR SELECT TO postgraphile_bench_user USING (
  (SELECT postgraphile_bench_private.caller_reads_all())
  OR partner_id = (SELECT postgraphile_bench_private.caller_partner_id())
  OR subscription_id = ANY ((SELECT postgraphile_bench_private.caller_tenant_subscription_ids())::uuid[])
);
-- Usage of the subscriptions the caller reads; a partner's reads keep to its association windows, which the
-- functions above apply (a row filter cannot say which seconds of a rollup row are inside a window).
CREATE POLICY postgraphile_bench_read ON public.usage_daily_rollups FOR SELECT TO postgraphile_bench_user USING (
  (SELECT postgraphile_bench_private.caller_reads_all())
  OR subscription_id = ANY ((SELECT postgraphile_bench_private.caller_subscription_ids())::uuid[])
);
CREATE POLICY postgraphile_bench_read ON public.usage_monthly_rollups FOR SELECT TO postgraphile_bench_user USING (
  (SELECT postgraphile_bench_private.caller_reads_all())
  OR subscription_id = ANY ((SELECT postgraphile_bench_private.caller_subscription_ids())::uuid[])
);
