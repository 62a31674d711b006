--[[ insertTasks: inserts a batch of tasks into one queue.
KEYS: the queue's keys (src/store/redis/keys.ts QUEUE_KEY_NAMES order).
ARGV[1] now (ms, or '' for the server clock)   ARGV[2] queue   ARGV[3] number of tasks
then either 'B' and one binary argument holding every task of the batch, plain tasks without a
deadline (codec.ts packPlainBatch: per task its 26-byte id, priority byte, 4-byte tail length, tail),
or per task its id and its form, 'f' or 'g':
  f (a plain task, due now: no key, no dependencies, no start time; codec.ts isPlainNewTask):
    priority, deadline or '', the record packed from `deadline` on (codec.ts packTaskTail);
  g (any task): type, payload (JSON), priority, maxAttempts, backoff (codec.ts; '' = default),
    timeoutMs or '', deadline or '', runAt or '', delayMs or '' (used without runAt: due at now +
    delay), dependsOn (JSON array or ''), key or '', traceContext (JSON object or ''), number of
    dependencies d, then d triples:
    dependency id, its queue, link status ('' when it is in this queue, else what
    linkDependencies reported: linked | completed | dead | cancelled).
Returns: { outboxUsed (0|1), createdAt (the store's now), per task in input order either
  the state code alone for a new task due now (the usual case: the caller knows the rest, and
  echoing the payload would only cost bandwidth), or
  { 1, state code, runAt, error JSON or false, finishedAt or false } for another new task, or
  { 0, { id, packed record } } for the existing task of a repeated id or idempotency key }
Errors: 'CONVEYOR_DEPENDENCY_NOT_FOUND <taskId> <depId>', raised before anything is written.
Events: task:submitted per created task (not for an existing one), with the state it was inserted
in; a task inserted cancelled because a dependency had failed then gets task:cancelled.
]]
--- @include "lib/common"
--- @include "lib/fast"

local count_tasks = tonumber(ARGV[3])

-- task:submitted of a plain task, appended to EVENTS from its packed tail (`deadline`, type, …):
-- the type's bytes are copied.
local ATTEMPT0_PENDING = '\0' .. PENDING
local function submitted_packed(id, tail)
  local type_at = skip_time(tail, 1)
  local type_end = type_at and skip(tail, type_at)
  if not type_end then
    -- Not a shape packTaskTail writes; decode it rather than guess.
    local r = { cmsgpack.unpack(pending_head(NOW) .. tail) }
    event(EV_submitted, id, r)
    return
  end
  local n = NEV
  EVENTS[n + 1] = SUBMITTED5
  EVENTS[n + 2] = str_header(#id)
  EVENTS[n + 3] = id
  EVENTS[n + 4] = string.sub(tail, type_at, type_end - 1)
  EVENTS[n + 5] = ATTEMPT0_PENDING
  NEV = n + 5
  NEVENTS = NEVENTS + 1
end

-- The usual batch: plain tasks only ('f'), none of them stored yet. One pass, one command per
-- kind of write.
local function insert_plain()
  local ids, priorities, tails, deadlines_of = {}, {}, {}, {}
  -- The packed types, for the events: read here while the blob is at hand.
  local types = nil
  if ARGV[4] == 'B' then
    local blob, at = ARGV[5], 1
    if EVENTS_ON then types = {} end
    for n = 1, count_tasks do
      ids[n] = string.sub(blob, at, at + 25)
      local b1, b2, b3, b4, deadline, type_header
      priorities[n], b1, b2, b3, b4, deadline, type_header = string.byte(blob, at + 26, at + 32)
      local tail_end = at + 30 + ((b1 * 256 + b2) * 256 + b3) * 256 + b4
      tails[n] = string.sub(blob, at + 31, tail_end)
      -- The tail opens with the deadline (nil in this form) and the type, usually a fixstr.
      if types and deadline == 0xc0 and type_header and type_header >= 0xa0 and type_header <= 0xbf then
        types[n] = string.sub(blob, at + 32, at + 32 + type_header - 0xa0)
      elseif types then
        types = nil
      end
      deadlines_of[n] = ''
      at = tail_end + 1
    end
  else
    if #ARGV ~= 3 + count_tasks * 5 then return nil end
    for n = 1, count_tasks do
      local i = n * 5 - 1
      if ARGV[i + 1] ~= 'f' then return nil end
      ids[n] = ARGV[i]
      priorities[n] = ARGV[i + 2]
      deadlines_of[n] = ARGV[i + 3]
      tails[n] = ARGV[i + 4]
    end
  end
  -- Ids seen before (a call re-sent after a reconnect) take the general path, which answers them.
  local found = redis.call('HMGET', K_tasks, unpack(ids))
  for n = 1, count_tasks do
    if found[n] then return nil end
  end
  local head = pending_head(NOW)
  local records, by_priority, deadlines, out, seen = {}, {}, {}, {}, {}
  for n = 1, count_tasks do
    local id = ids[n]
    if seen[id] then return nil end
    seen[id] = true
    records[#records + 1] = id
    records[#records + 1] = head .. tails[n]
    local priority = priorities[n]
    local list = by_priority[priority]
    if not list then
      list = {}
      by_priority[priority] = list
    end
    list[#list + 1] = id
    if deadlines_of[n] ~= '' then
      deadlines[#deadlines + 1] = deadlines_of[n]
      deadlines[#deadlines + 1] = id
    end
    out[n] = ST_pending
  end
  if types then
    local e = NEV
    for n = 1, count_tasks do
      EVENTS[e + 1] = SUBMITTED5
      EVENTS[e + 2] = ID26
      EVENTS[e + 3] = ids[n]
      EVENTS[e + 4] = types[n]
      EVENTS[e + 5] = ATTEMPT0_PENDING
      e = e + 5
    end
    NEV = e
    NEVENTS = NEVENTS + count_tasks
  elseif EVENTS_ON then
    for n = 1, count_tasks do submitted_packed(ids[n], tails[n]) end
  end
  call_chunked('HSET', K_tasks, records)
  call_chunked('RPUSH', K_all, ids)
  for priority, list in pairs(by_priority) do call_chunked('RPUSH', K_pendingPrefix .. priority, list) end
  if #deadlines > 0 then call_chunked('ZADD', K_deadlines, deadlines) end
  count(ST_pending, count_tasks)
  mark_work(0)
  return out
end

-- A client batch is at most 1,000 tasks; bigger ones go the general way (unpack's limit).
local plain = count_tasks <= 1000 and insert_plain()
if plain then return { finish(), NOW, plain } end

-- Pass 1: parse and validate, so that a bad dependency writes nothing.
local tasks = {}
local batch_ids = {}
local batch_ids_list = {}
local keys = {}
local i = 4
local blob, blob_at = ARGV[5], 1
for n = 1, count_tasks do
  local t
  local ndeps = 0
  if ARGV[4] == 'B' then
    local priority, b1, b2, b3, b4 = string.byte(blob, blob_at + 26, blob_at + 30)
    local tail_end = blob_at + 30 + ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    t = { id = string.sub(blob, blob_at, blob_at + 25), plain = true, priority = priority, tail = string.sub(blob, blob_at + 31, tail_end), key = '' }
    blob_at = tail_end + 1
  elseif ARGV[i + 1] == 'f' then
    t = { id = ARGV[i], plain = true, priority = ARGV[i + 2], deadline = tonumber(ARGV[i + 3]), tail = ARGV[i + 4], key = '' }
    i = i + 5
  else
    i = i + 1
    t = {
      id = ARGV[i - 1], type = ARGV[i + 1], payload = ARGV[i + 2], priority = tonumber(ARGV[i + 3]),
      max_attempts = tonumber(ARGV[i + 4]), backoff = ARGV[i + 5], timeout = tonumber(ARGV[i + 6]),
      deadline = tonumber(ARGV[i + 7]), run_at = tonumber(ARGV[i + 8]), depends_on = ARGV[i + 10],
      key = ARGV[i + 11], trace = ARGV[i + 12], deps = {},
    }
    if not t.run_at and tonumber(ARGV[i + 9]) then t.run_at = NOW + tonumber(ARGV[i + 9]) end
    ndeps = tonumber(ARGV[i + 13])
    i = i + 14
  end
  for d = 1, ndeps do
    local dep = { id = ARGV[i], queue = ARGV[i + 1], status = ARGV[i + 2] }
    if dep.queue == QUEUE and not batch_ids[dep.id] and not load(dep.id) then
      return redis.error_reply('CONVEYOR_DEPENDENCY_NOT_FOUND ' .. t.id .. ' ' .. dep.id)
    end
    t.deps[d] = dep
    i = i + 3
  end
  batch_ids[t.id] = true
  batch_ids_list[n] = t.id
  if t.key ~= '' then keys[#keys + 1] = t.key end
  tasks[n] = t
end

-- Pass 2: write. The ids are read in one call (a call re-sent after a reconnect finds its tasks),
-- and so are the idempotency keys.
local found = fetch_packed(batch_ids_list)
local head = pending_head(NOW)
local plain = 0
local key_owner = {}
if #keys > 0 then
  local owners = redis.call('HMGET', K_idempotency, unpack(keys))
  for j, key in ipairs(keys) do
    if owners[j] then key_owner[key] = owners[j] end
  end
end

local out = {}
for n, t in ipairs(tasks) do
  -- The same id again (a call re-sent after a reconnect) is the same task, not a second one.
  local existing = (found[n] or RECORDS[t.id] or WRITES[t.id]) and load(t.id)
  if existing then out[n] = { 0, wire(t.id, existing) } end
  if not existing and t.plain then
    save_packed(t.id, head .. t.tail)
    RECORDS[t.id] = nil
    rpush(K_all, t.id)
    rpush(K_pendingPrefix .. t.priority, t.id)
    if t.deadline then zadd(K_deadlines, t.deadline, t.id) end
    if EVENTS_ON then submitted_packed(t.id, t.tail) end
    plain = plain + 1
    out[n] = ST_pending
    existing = true
  end
  if not existing and t.key ~= '' then
    local id = key_owner[t.key]
    if id then existing = load(id) end
    if existing then out[n] = { 0, wire(id, existing) } end
  end
  if not existing then
    local r = {}
    r[R_type] = t.type
    r[R_payload] = t.payload
    r[R_priority] = t.priority
    r[R_attempt] = 0
    r[R_maxAttempts] = t.max_attempts
    r[R_createdAt] = NOW
    if t.backoff ~= '' then r[R_backoff] = t.backoff end
    r[R_timeoutMs] = t.timeout
    r[R_deadline] = t.deadline
    if t.depends_on ~= '' then r[R_dependsOn] = t.depends_on end
    if t.trace ~= '' then r[R_traceContext] = t.trace end
    if t.key ~= '' then
      r[R_key] = t.key
      key_owner[t.key] = t.id
      redis.call('HSET', K_idempotency, t.key, t.id)
    end
    rpush(K_all, t.id)

    -- Which dependencies are still open, and did one already fail?
    local failed = nil
    local waiting = {}
    for _, dep in ipairs(t.deps) do
      local standing = dep.status
      if dep.queue == QUEUE then
        local dr = load(dep.id)
        if is_finished(dr[R_state]) then
          standing = STATE_NAME[dr[R_state]]
        else
          add_dependent(dep.id, dr, QUEUE .. '|' .. t.id)
          standing = 'linked'
        end
      end
      if standing == 'linked' then
        waiting[#waiting + 1] = dep.id
      elseif standing ~= 'completed' and not failed then
        failed = { id = dep.id, state = standing }
      end
    end

    if failed then
      event_of(EV_submitted, t.id, t.type, 0, ST_cancelled)
      end_task(t.id, r, ST_cancelled,
        make_error('dependency_failed', 'dependency ' .. failed.id .. ' is ' .. failed.state, 0))
    else
      if t.deadline then zadd(K_deadlines, t.deadline, t.id) end
      if #waiting > 0 then
        if t.run_at then r[R_runAt] = t.run_at end
        redis.call('SADD', K_waitingPrefix .. t.id, unpack(waiting))
        enter(t.id, r, ST_blocked, NOW)
      else
        make_ready(t.id, r, t.run_at or NOW)
      end
      save(t.id, r)
      event(EV_submitted, t.id, r)
    end
    if r[R_state] == ST_pending and r[R_runAt] == nil then
      out[n] = r[R_state]
    else
      out[n] = { 1, r[R_state], run_at(r), r[R_error] or false, r[R_finishedAt] or false }
    end
  end
end

if plain > 0 then
  count(ST_pending, plain)
  mark_work(0)
end
return { finish(), NOW, out }
