-- creations.insertRunStatement
with r as (
    insert into runs (
  tenant_id, id, workflow_id, workflow_version, status, input, labels, max_attempts, priority,
  timeout_ms, backoff_ms, created_by, idempotency_key, webhook_url, webhook_intermediate,
  schedule_time, ready_time, last_sequence) select 
  $1::uuid, $2::uuid, $3::uuid, $4::int,
  case when $15::timestamptz > now() then 'SCHEDULED' else 'QUEUED' end,
  $5::jsonb, $6::jsonb, $7::int, $8::int, $9::bigint, $10::bigint, $11::text, $12::text, $13::text,
  $14::boolean, $15::timestamptz, greatest(coalesce($15::timestamptz, now()), now()), 1 where 
  (not $16::boolean or exists (
    select 1 from workflows w where w.tenant_id = $1::uuid and w.id = $3::uuid and w.latest_version = $4::int))
    returning *
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug from r;

-- creations.insertRunWithKeyStatement
with k as (
    insert into idempotency_keys (tenant_id, key, request_hash, run_id, expire_time)
    select $1::uuid, $12::text, $17::text, $2::uuid, now() + interval '24 hours'
    where 
  (not $16::boolean or exists (
    select 1 from workflows w where w.tenant_id = $1::uuid and w.id = $3::uuid and w.latest_version = $4::int))
    on conflict (tenant_id, key) do update
      set request_hash = excluded.request_hash, run_id = excluded.run_id,
          create_time = now(), expire_time = excluded.expire_time
      where idempotency_keys.expire_time < now()
    returning run_id
  ), r as (
    insert into runs (
  tenant_id, id, workflow_id, workflow_version, status, input, labels, max_attempts, priority,
  timeout_ms, backoff_ms, created_by, idempotency_key, webhook_url, webhook_intermediate,
  schedule_time, ready_time, last_sequence) select 
  $1::uuid, $2::uuid, $3::uuid, $4::int,
  case when $15::timestamptz > now() then 'SCHEDULED' else 'QUEUED' end,
  $5::jsonb, $6::jsonb, $7::int, $8::int, $9::bigint, $10::bigint, $11::text, $12::text, $13::text,
  $14::boolean, $15::timestamptz, greatest(coalesce($15::timestamptz, now()), now()), 1 where exists (select 1 from k)
    returning *
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug from r;

-- creations.insertRunsStatement
with x as (
    select * from unnest($2::uuid[], $3::uuid[], $4::int[], $5::jsonb[], $6::jsonb[], $7::int[], $8::int[],
                         $9::bigint[], $10::bigint[], $11::text[], $12::text[], $13::boolean[], $14::timestamptz[],
                         $15::boolean[])
      as x(id, workflow_id, version, input, labels, max_attempts, priority, timeout_ms, backoff_ms, created_by,
           webhook_url, webhook_intermediate, schedule_time, check_latest)
  ), r as (
    insert into runs (
  tenant_id, id, workflow_id, workflow_version, status, input, labels, max_attempts, priority,
  timeout_ms, backoff_ms, created_by, idempotency_key, webhook_url, webhook_intermediate,
  schedule_time, ready_time, last_sequence)
    select $1::uuid, x.id, x.workflow_id, x.version,
      case when x.schedule_time > now() then 'SCHEDULED' else 'QUEUED' end,
      x.input, x.labels, x.max_attempts, x.priority, x.timeout_ms, x.backoff_ms, x.created_by, null,
      x.webhook_url, x.webhook_intermediate, x.schedule_time, greatest(coalesce(x.schedule_time, now()), now()), 1
    from x
    where 
  (not x.check_latest or exists (
    select 1 from workflows w where w.tenant_id = $1::uuid and w.id = x.workflow_id and w.latest_version = x.version))
    returning *
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug from r;

-- creations.insertRerunStatement
with o as (
    select * from runs o where o.tenant_id = $1::uuid and o.id = $3::uuid
      and o.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
  ), r as (
    insert into runs (
  tenant_id, id, workflow_id, workflow_version, status, input, labels, max_attempts, priority,
  timeout_ms, backoff_ms, created_by, idempotency_key, webhook_url, webhook_intermediate,
  schedule_time, ready_time, last_sequence, rerun_of)
    select $1::uuid, $2::uuid, o.workflow_id, o.workflow_version,
      case when null::timestamptz > now() then 'SCHEDULED' else 'QUEUED' end,
      o.input, $4::jsonb, o.max_attempts, o.priority, o.timeout_ms, o.backoff_ms, $5::text, $6::text,
      o.webhook_url, o.webhook_intermediate, null, now(), 1, o.id
    from o
    returning *
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug from r;

-- creations.insertRerunWithKeyStatement
with o as (
    select * from runs o where o.tenant_id = $1::uuid and o.id = $3::uuid
      and o.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
  ), k as (
    insert into idempotency_keys (tenant_id, key, request_hash, run_id, expire_time)
    select $1::uuid, $6::text, $7::text, $2::uuid, now() + interval '24 hours'
    where exists (select 1 from o)
    on conflict (tenant_id, key) do update
      set request_hash = excluded.request_hash, run_id = excluded.run_id,
          create_time = now(), expire_time = excluded.expire_time
      where idempotency_keys.expire_time < now()
    returning run_id
  ), r as (
    insert into runs (
  tenant_id, id, workflow_id, workflow_version, status, input, labels, max_attempts, priority,
  timeout_ms, backoff_ms, created_by, idempotency_key, webhook_url, webhook_intermediate,
  schedule_time, ready_time, last_sequence, rerun_of)
    select $1::uuid, $2::uuid, o.workflow_id, o.workflow_version,
      case when null::timestamptz > now() then 'SCHEDULED' else 'QUEUED' end,
      o.input, $4::jsonb, o.max_attempts, o.priority, o.timeout_ms, o.backoff_ms, $5::text, $6::text,
      o.webhook_url, o.webhook_intermediate, null, now(), 1, o.id
    from o where exists (select 1 from k)
    returning *
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug from r;

-- singleRun.cancelStatement
with r as (
    update runs r set
      status = case when r.status = 'RUNNING' then 'CANCELLING' else 'CANCELLED' end,
      cancel_requested = true,
      end_time = case when r.status = 'RUNNING' then null else now() end,
      update_time = now(),
      last_sequence = r.last_sequence + 1
    where r.tenant_id = $1::uuid and r.id = $2::uuid and r.status in ('QUEUED', 'SCHEDULED', 'INTERRUPTED', 'RUNNING')
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('reason', $3::text) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- singleRun.resumeStatement
with r as (
    update runs r set
      status = 'QUEUED',
      attempt = greatest(r.attempt - 1, 0),
      resume_input = $3::jsonb,
      ready_time = now(),
      update_time = now(),
      last_sequence = r.last_sequence + 1
    where r.tenant_id = $1::uuid and r.id = $2::uuid and r.status = 'INTERRUPTED' and r.interrupt->>'id' = $4::text
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('resumedInterruptId', $4::text) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- singleRun.failStatement
with r as (
    update runs r set
      status = case when r.status = 'CANCELLING' then 'CANCELLED' when $5::boolean and r.attempt < r.max_attempts then 'QUEUED' else 'FAILED' end,
      ready_time = case when r.status <> 'CANCELLING' and $5::boolean and r.attempt < r.max_attempts then now() + least(r.backoff_ms * power(2, least(r.attempt - 1, 60)), 86400000) * interval '1 millisecond' else r.ready_time end,
      end_time = case when r.status <> 'CANCELLING' and $5::boolean and r.attempt < r.max_attempts then null else now() end,
      error = $4::jsonb,
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
    where r.tenant_id = $1::uuid and r.id = $2::uuid and r.lease_id = $3::uuid and r.status in ('RUNNING', 'CANCELLING') and r.lease_expire_time > now()
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('error', $4::jsonb, 'attempt', attempt) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- singleRun.releaseStatement
with r as (
    update runs r set
      status = case when r.status = 'CANCELLING' then 'CANCELLED' else 'QUEUED' end,
      attempt = case when r.status = 'CANCELLING' then r.attempt else r.attempt - 1 end,
      ready_time = now(),
      end_time = case when r.status = 'CANCELLING' then now() else null end,
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
    where r.tenant_id = $1::uuid and r.id = $2::uuid and r.lease_id = $3::uuid and r.status in ('RUNNING', 'CANCELLING') and r.lease_expire_time > now()
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('reason', 'released') from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- singleRun.interruptStatement
with r as (
    update runs r set
      status = 'INTERRUPTED',
      interrupt = $4::jsonb,
      resume_input = null,
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
    where r.tenant_id = $1::uuid and r.id = $2::uuid and r.lease_id = $3::uuid and r.status in ('RUNNING', 'CANCELLING') and r.lease_expire_time > now() and r.status = 'RUNNING'
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('interruptId', $4::jsonb->>'id', 'reason', $4::jsonb->>'reason') from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- claims.claimAnyStatement
with 
    slot as (select s.n, s.worker_id, s.lease_ms from unnest($2::text[], $3::bigint[]) with ordinality as s(worker_id, lease_ms, n)), c0 as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() 
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 )
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  ) select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- claims.claimAnyHintedStatement
with 
    slot as (select s.n, s.worker_id, s.lease_ms from unnest($2::text[], $3::bigint[]) with ordinality as s(worker_id, lease_ms, n)), above as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now()  and r.priority > $4::int4
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 )
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), at as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now()  and r.priority = $4::int4 and (r.ready_time, r.id) >= ((timestamptz 'epoch' + $5::int8 * interval '1 microsecond'), $6::uuid)
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 )
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot) - (select count(*) from above)
      for update skip locked
    ), head as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now()  and r.id not in (select id from above union all select id from at)
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 )
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot) - (select count(*) from above) - (select count(*) from at)
      for update skip locked
    ), c0 as (select * from above union all select * from at union all select * from head), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  ) select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- claims.claimOnlyStatement
with 
    slot as (select s.n, s.worker_id, s.lease_ms from unnest($2::text[], $3::bigint[]) with ordinality as s(worker_id, lease_ms, n)), c0 as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($4::uuid[])
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and w.id = any($4::uuid[]))
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  ) select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- claims.claimOnlyHintedStatement
with 
    slot as (select s.n, s.worker_id, s.lease_ms from unnest($2::text[], $3::bigint[]) with ordinality as s(worker_id, lease_ms, n)), above as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($4::uuid[]) and r.priority > $5::int4
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and w.id = any($4::uuid[]))
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), at as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($4::uuid[]) and r.priority = $5::int4 and (r.ready_time, r.id) >= ((timestamptz 'epoch' + $6::int8 * interval '1 microsecond'), $7::uuid)
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and w.id = any($4::uuid[]))
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot) - (select count(*) from above)
      for update skip locked
    ), head as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($4::uuid[]) and r.id not in (select id from above union all select id from at)
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and w.id = any($4::uuid[]))
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot) - (select count(*) from above) - (select count(*) from at)
      for update skip locked
    ), c0 as (select * from above union all select * from at union all select * from head), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  ) select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- claims.claimOnlyUnguardedStatement
with 
    slot as (select s.n, s.worker_id, s.lease_ms from unnest($2::text[], $3::bigint[]) with ordinality as s(worker_id, lease_ms, n)), c0 as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($4::uuid[])
        
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  ) select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- claims.claimExceptStatement
with 
    slot as (select s.n, s.worker_id, s.lease_ms from unnest($2::text[], $3::bigint[]) with ordinality as s(worker_id, lease_ms, n)), c0 as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id <> all($4::uuid[])
        
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  ) select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- completions.completeStatement
with 
    i as (
      select * from unnest($2::uuid[], $3::uuid[], $4::jsonb[]) with ordinality as i(id, lease_id, output, n)
    ), t as (
      select l.id, i.output, i.n from i cross join lateral (
        select r.id, r.lease_id, r.status, r.lease_expire_time from runs r
        where r.tenant_id = $1::uuid and r.id = i.id
        for update
        offset 0
      ) l
      where l.lease_id = i.lease_id and l.status in ('RUNNING', 'CANCELLING') and l.lease_expire_time > now()
    ), d as (
      update runs r set
        status = case when r.status = 'CANCELLING' then 'CANCELLED' else 'SUCCEEDED' end,
      result = case when r.status = 'CANCELLING' then null else t.output end,
      end_time = now(),
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from t
      where r.tenant_id = $1::uuid and r.id = t.id
      returning r.*, t.n
    ), de as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from d
  ), dec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from d r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from d r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ded as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from dec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from dec limit 1) one) >= 0
  )
  select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.n, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from d as r;

-- completions.completeAndClaimAnyStatement
with 
    i as (
      select * from unnest($2::uuid[], $3::uuid[], $4::jsonb[]) with ordinality as i(id, lease_id, output, n)
    ), t as (
      select l.id, i.output, i.n from i cross join lateral (
        select r.id, r.lease_id, r.status, r.lease_expire_time from runs r
        where r.tenant_id = $1::uuid and r.id = i.id
        for update
        offset 0
      ) l
      where l.lease_id = i.lease_id and l.status in ('RUNNING', 'CANCELLING') and l.lease_expire_time > now()
    ), d as (
      update runs r set
        status = case when r.status = 'CANCELLING' then 'CANCELLED' else 'SUCCEEDED' end,
      result = case when r.status = 'CANCELLING' then null else t.output end,
      end_time = now(),
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from t
      where r.tenant_id = $1::uuid and r.id = t.id
      returning r.*, t.n
    ), de as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from d
  ), dec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from d r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from d r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ded as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from dec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from dec limit 1) one) >= 0
  ), dn as (select pg_notify('runline_run_events', d.tenant_id::text || '/' || d.id::text || '/' || d.last_sequence::text) from d),
    
    slot as (
  select row_number() over (order by d.n) as n, s.worker_id, s.lease_ms
  from d join unnest($5::text[], $6::bigint[]) with ordinality as s(worker_id, lease_ms, k) on s.k = d.n
  where s.worker_id is not null), c0 as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() 
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 )
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
    select done.done, done.notified, claimed.*
    from (
      select coalesce(jsonb_agg(jsonb_build_object('n', d.n, 'id', d.id, 'status', d.status)), '[]'::jsonb) as done,
        (select count(*) from dn) as notified
      from d
    ) done
    left join (select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r) claimed on true;

-- completions.completeAndClaimOnlyStatement
with 
    i as (
      select * from unnest($2::uuid[], $3::uuid[], $4::jsonb[]) with ordinality as i(id, lease_id, output, n)
    ), t as (
      select l.id, i.output, i.n from i cross join lateral (
        select r.id, r.lease_id, r.status, r.lease_expire_time from runs r
        where r.tenant_id = $1::uuid and r.id = i.id
        for update
        offset 0
      ) l
      where l.lease_id = i.lease_id and l.status in ('RUNNING', 'CANCELLING') and l.lease_expire_time > now()
    ), d as (
      update runs r set
        status = case when r.status = 'CANCELLING' then 'CANCELLED' else 'SUCCEEDED' end,
      result = case when r.status = 'CANCELLING' then null else t.output end,
      end_time = now(),
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from t
      where r.tenant_id = $1::uuid and r.id = t.id
      returning r.*, t.n
    ), de as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from d
  ), dec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from d r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from d r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ded as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from dec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from dec limit 1) one) >= 0
  ), dn as (select pg_notify('runline_run_events', d.tenant_id::text || '/' || d.id::text || '/' || d.last_sequence::text) from d),
    
    slot as (
  select row_number() over (order by d.n) as n, s.worker_id, s.lease_ms
  from d join unnest($5::text[], $6::bigint[]) with ordinality as s(worker_id, lease_ms, k) on s.k = d.n
  where s.worker_id is not null), c0 as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($7::uuid[])
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and w.id = any($7::uuid[]))
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
    select done.done, done.notified, claimed.*
    from (
      select coalesce(jsonb_agg(jsonb_build_object('n', d.n, 'id', d.id, 'status', d.status)), '[]'::jsonb) as done,
        (select count(*) from dn) as notified
      from d
    ) done
    left join (select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r) claimed on true;

-- completions.completeAndClaimAnyHintedStatement
with 
    i as (
      select * from unnest($2::uuid[], $3::uuid[], $4::jsonb[]) with ordinality as i(id, lease_id, output, n)
    ), t as (
      select l.id, i.output, i.n from i cross join lateral (
        select r.id, r.lease_id, r.status, r.lease_expire_time from runs r
        where r.tenant_id = $1::uuid and r.id = i.id
        for update
        offset 0
      ) l
      where l.lease_id = i.lease_id and l.status in ('RUNNING', 'CANCELLING') and l.lease_expire_time > now()
    ), d as (
      update runs r set
        status = case when r.status = 'CANCELLING' then 'CANCELLED' else 'SUCCEEDED' end,
      result = case when r.status = 'CANCELLING' then null else t.output end,
      end_time = now(),
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from t
      where r.tenant_id = $1::uuid and r.id = t.id
      returning r.*, t.n
    ), de as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from d
  ), dec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from d r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from d r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ded as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from dec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from dec limit 1) one) >= 0
  ), dn as (select pg_notify('runline_run_events', d.tenant_id::text || '/' || d.id::text || '/' || d.last_sequence::text) from d),
    
    slot as (
  select row_number() over (order by d.n) as n, s.worker_id, s.lease_ms
  from d join unnest($5::text[], $6::bigint[]) with ordinality as s(worker_id, lease_ms, k) on s.k = d.n
  where s.worker_id is not null), above as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now()  and r.priority > $7::int4
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 )
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), at as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now()  and r.priority = $7::int4 and (r.ready_time, r.id) >= ((timestamptz 'epoch' + $8::int8 * interval '1 microsecond'), $9::uuid)
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 )
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot) - (select count(*) from above)
      for update skip locked
    ), head as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now()  and r.id not in (select id from above union all select id from at)
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 )
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot) - (select count(*) from above) - (select count(*) from at)
      for update skip locked
    ), c0 as (select * from above union all select * from at union all select * from head), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
    select done.done, done.notified, claimed.*
    from (
      select coalesce(jsonb_agg(jsonb_build_object('n', d.n, 'id', d.id, 'status', d.status)), '[]'::jsonb) as done,
        (select count(*) from dn) as notified
      from d
    ) done
    left join (select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r) claimed on true;

-- completions.completeAndClaimOnlyHintedStatement
with 
    i as (
      select * from unnest($2::uuid[], $3::uuid[], $4::jsonb[]) with ordinality as i(id, lease_id, output, n)
    ), t as (
      select l.id, i.output, i.n from i cross join lateral (
        select r.id, r.lease_id, r.status, r.lease_expire_time from runs r
        where r.tenant_id = $1::uuid and r.id = i.id
        for update
        offset 0
      ) l
      where l.lease_id = i.lease_id and l.status in ('RUNNING', 'CANCELLING') and l.lease_expire_time > now()
    ), d as (
      update runs r set
        status = case when r.status = 'CANCELLING' then 'CANCELLED' else 'SUCCEEDED' end,
      result = case when r.status = 'CANCELLING' then null else t.output end,
      end_time = now(),
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from t
      where r.tenant_id = $1::uuid and r.id = t.id
      returning r.*, t.n
    ), de as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from d
  ), dec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from d r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from d r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ded as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from dec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from dec limit 1) one) >= 0
  ), dn as (select pg_notify('runline_run_events', d.tenant_id::text || '/' || d.id::text || '/' || d.last_sequence::text) from d),
    
    slot as (
  select row_number() over (order by d.n) as n, s.worker_id, s.lease_ms
  from d join unnest($5::text[], $6::bigint[]) with ordinality as s(worker_id, lease_ms, k) on s.k = d.n
  where s.worker_id is not null), above as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($7::uuid[]) and r.priority > $8::int4
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and w.id = any($7::uuid[]))
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot)
      for update skip locked
    ), at as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($7::uuid[]) and r.priority = $8::int4 and (r.ready_time, r.id) >= ((timestamptz 'epoch' + $9::int8 * interval '1 microsecond'), $10::uuid)
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and w.id = any($7::uuid[]))
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot) - (select count(*) from above)
      for update skip locked
    ), head as (
      select r.tenant_id, r.id, r.priority, r.ready_time from runs r
      where r.tenant_id = $1::uuid and r.status = 'QUEUED' and r.ready_time <= now() and r.workflow_id = any($7::uuid[]) and r.id not in (select id from above union all select id from at)
        and not exists (select 1 from workflows w where w.tenant_id = $1::uuid and w.concurrency_limit > 0 and w.id = any($7::uuid[]))
      order by r.priority desc, r.ready_time, r.id
      limit (select count(*) from slot) - (select count(*) from above) - (select count(*) from at)
      for update skip locked
    ), c0 as (select * from above union all select * from at union all select * from head), c as (
      select c0.tenant_id, c0.id, row_number() over (order by c0.priority desc, c0.ready_time, c0.id) as n from c0
    ), r as (
      update runs r set
        status = 'RUNNING',
      attempt = r.attempt + 1,
      lease_id = gen_random_uuid(),
      lease_duration_ms = slot.lease_ms,
      lease_expire_time = now() + slot.lease_ms * interval '1 millisecond',
      worker_id = slot.worker_id,
      start_time = coalesce(r.start_time, now()),
      deadline_time = coalesce(r.deadline_time, now() + least(r.timeout_ms, 315576000000000) * interval '1 millisecond'),
      cancel_requested = false,
      update_time = now(),
      last_sequence = r.last_sequence + 1
      from c join slot on slot.n = c.n
      where r.tenant_id = c.tenant_id and r.id = c.id
      returning r.*, c.n as slot
    ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('attempt', attempt, 'workerId', worker_id) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
    select done.done, done.notified, claimed.*
    from (
      select coalesce(jsonb_agg(jsonb_build_object('n', d.n, 'id', d.id, 'status', d.status)), '[]'::jsonb) as done,
        (select count(*) from dn) as notified
      from d
    ) done
    left join (select 
  r.tenant_id, r.id, r.workflow_id, r.workflow_version, r.status, r.input, r.labels, r.attempt,
  r.max_attempts, r.priority, r.timeout_ms, r.created_by, r.idempotency_key, r.webhook_url,
  r.webhook_intermediate, r.schedule_time, r.create_time, r.update_time, r.start_time,
  r.end_time, r.last_sequence, r.result, r.error, r.interrupt, r.rerun_of,
  (select w.slug from workflows w where w.tenant_id = r.tenant_id and w.id = r.workflow_id) as workflow_slug, r.lease_id, r.lease_expire_time, r.resume_input, r.slot,
  (extract(epoch from r.ready_time) * 1000000)::int8 as queue_ready_micros, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r) claimed on true;

-- sweeps.expireLeasesStatement
with x as (
    select r.tenant_id, r.id from runs r where r.status in ('RUNNING', 'CANCELLING') and r.lease_expire_time < now()
    order by r.lease_expire_time limit 500 for update skip locked
  ), r as (
    update runs r set
      status = case when r.status = 'CANCELLING' then 'CANCELLED' when r.attempt < r.max_attempts then 'QUEUED' else 'TIMED_OUT' end,
      ready_time = case when r.status = 'RUNNING' and r.attempt < r.max_attempts then now() + least(r.backoff_ms * power(2, least(r.attempt - 1, 60)), 86400000) * interval '1 millisecond' else r.ready_time end,
      end_time = case when r.status = 'RUNNING' and r.attempt < r.max_attempts then null else now() end,
      error = case when r.status = 'RUNNING' and r.attempt >= r.max_attempts
     then jsonb_build_object('message', 'the executor stopped heartbeating and no attempts are left', 'code', 'LEASE_EXPIRED') else r.error end,
      worker_id = null,
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
    from x where r.tenant_id = x.tenant_id and r.id = x.id
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('reason', 'lease_expired', 'attempt', attempt) from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select r.tenant_id, r.status, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- sweeps.timeOutRunsStatement
with x as (
    select r.tenant_id, r.id from runs r where r.status in ('QUEUED', 'RUNNING', 'INTERRUPTED', 'CANCELLING') and r.deadline_time < now()
    order by r.deadline_time limit 500 for update skip locked
  ), r as (
    update runs r set
      status = 'TIMED_OUT',
      end_time = now(),
      worker_id = null,
      error = jsonb_build_object('message', 'the run exceeded its timeout', 'code', 'RUN_TIMEOUT'),
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
    from x where r.tenant_id = x.tenant_id and r.id = x.id
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('reason', 'timeout') from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select r.tenant_id, r.status, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- sweeps.endCancelGraceStatement
with x as (
    select r.tenant_id, r.id from runs r where r.status = 'CANCELLING' and r.update_time < now() - $1::bigint * interval '1 millisecond'
    order by r.update_time limit 500 for update skip locked
  ), r as (
    update runs r set
      status = 'CANCELLED',
      end_time = now(),
      worker_id = null,
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
    from x where r.tenant_id = x.tenant_id and r.id = x.id
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, jsonb_build_object('reason', 'cancel_grace_period_ended') from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select r.tenant_id, r.status, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;

-- sweeps.startScheduledStatement
with x as (
    select r.tenant_id, r.id from runs r where r.status = 'SCHEDULED' and r.schedule_time <= now()
    order by r.schedule_time limit 500 for update skip locked
  ), r as (
    update runs r set
      status = 'QUEUED',
      ready_time = now(),
      lease_id = null,
      lease_expire_time = null,
      update_time = now(),
      last_sequence = r.last_sequence + 1
    from x where r.tenant_id = x.tenant_id and r.id = x.id
    returning r.*
  ), e as (
    insert into run_events (tenant_id, run_id, sequence, type, status, data)
    select tenant_id, id, last_sequence, 'status', status, null from r
  ), ec as (
    select r.tenant_id, r.id as run_id, null::uuid as endpoint_id, r.webhook_url as url, r.status, r.last_sequence,
      to_jsonb(r) as row
    from r r
    where r.webhook_url is not null
      and (r.webhook_intermediate or r.status in ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'INTERRUPTED'))
    union all
    select r.tenant_id, r.id, ep.id, ep.url, r.status, r.last_sequence, to_jsonb(r)
    from r r
    join webhook_endpoints ep on ep.tenant_id = r.tenant_id and not ep.disabled
    where (cardinality(ep.event_types) = 0 or 'run.' || lower(r.status) = any(ep.event_types))
      and (cardinality(ep.workflow_ids) = 0 or r.workflow_id = any(ep.workflow_ids))
      and r.labels @> ep.labels
  ), ed as (
    insert into webhook_deliveries (tenant_id, id, run_id, endpoint_id, url, type, sequence, payload)
    select c.tenant_id, gen_random_uuid(), c.run_id, c.endpoint_id, c.url, 'run.' || lower(c.status), c.last_sequence, c.row
    from ec c
    where (select count(pg_notify('runline_webhooks', '')) from (select from ec limit 1) one) >= 0
  )
  select r.tenant_id, r.status, pg_notify('runline_run_events', r.tenant_id::text || '/' || r.id::text || '/' || r.last_sequence::text) from r;
