-- Shared fragments, included by every per-queue script after the generated header (K_<key>,
-- R_<record field>, ST_<state> = code, STATE_NAME, ERROR_HISTORY_LIMIT; see scripts.ts).
-- Conventions: ARGV[1] is `now` in epoch ms or '' for the server's clock; ARGV[2] is the queue name.
-- Every script ends with `finish()`, which writes what was collected along the way once (task
-- events included: lib/events).

--- @include "lib/clock"
local NOW = current_time(ARGV[1])
local QUEUE = ARGV[2]

--- @include "lib/events"

-- ---- records -------------------------------------------------------------------------------------

-- Every record a script touches is decoded once and kept here (false: known missing); `save`
-- packs it and queues it, and `finish()` writes every queued record in one variadic HSET. One
-- redis.call costs about as much as packing a record, so the hot paths (insert, claim, finish)
-- make a fixed number of calls per batch, not per task.
local RECORDS = {}
local WRITES = {}
local WRITE_ORDER = {}
-- Packed records read by fetch_packed and not decoded yet.
local RAW = {}

local function load(id)
  local r = RECORDS[id]
  if r ~= nil then return r or nil end
  -- Written by a fast path (lib/fast.lua) in this script, or fetched packed, and not decoded since.
  local packed = WRITES[id] or RAW[id]
  if packed == nil then packed = redis.call('HGET', K_tasks, id) end
  if packed then r = { cmsgpack.unpack(packed) } else r = false end
  RECORDS[id] = r
  return r or nil
end

-- The packed records of `ids` as they stand in this script, without decoding them (false: no such
-- task; true: already decoded here, so take the general path): one HMGET per 1,000 for those not
-- seen yet. The fast paths splice these bytes.
local function fetch_packed(ids)
  local out = {}
  local wanted = {}
  for i, id in ipairs(ids) do
    local r = RECORDS[id]
    if r == false then
      out[i] = false
    elseif r ~= nil then
      out[i] = true
    elseif WRITES[id] ~= nil or RAW[id] ~= nil then
      out[i] = WRITES[id] or RAW[id]
    else
      wanted[#wanted + 1] = i
    end
  end
  for first = 1, #wanted, 1000 do
    local last = math.min(first + 999, #wanted)
    local chunk = {}
    for j = first, last do chunk[#chunk + 1] = ids[wanted[j]] end
    local packed = redis.call('HMGET', K_tasks, unpack(chunk))
    for j = first, last do
      local i = wanted[j]
      local p = packed[j - first + 1] or false
      RAW[ids[i]] = p
      out[i] = p
    end
  end
  return out
end

-- Reads the records of `ids` into the cache (fetch_packed, then one decode each).
local function load_many(ids)
  local packed = fetch_packed(ids)
  for i, id in ipairs(ids) do
    local p = packed[i]
    if type(p) == 'string' then
      RECORDS[id] = { cmsgpack.unpack(p) }
    elseif p == false then
      RECORDS[id] = false
    end
  end
end

-- Packs the record, queues the write and returns the packed form (what replies carry).
local function save(id, r)
  -- The head is written in full (codec.ts): the fast paths splice its bytes.
  local n = R_COUNT
  while n > R_HEAD and r[n] == nil do n = n - 1 end
  local packed = cmsgpack.pack(unpack(r, 1, n))
  RECORDS[id] = r
  if WRITES[id] == nil then WRITE_ORDER[#WRITE_ORDER + 1] = id end
  WRITES[id] = packed
  return packed
end

-- Queues an already packed record (the fast paths); a later `load` decodes it.
local function save_packed(id, packed)
  RECORDS[id] = nil
  if WRITES[id] == nil then WRITE_ORDER[#WRITE_ORDER + 1] = id end
  WRITES[id] = packed
end

-- Deletes the record now (a queued write of it is dropped).
local function drop(id)
  RECORDS[id] = false
  WRITES[id] = false
  redis.call('HDEL', K_tasks, id)
end

local function write_records()
  local args = {}
  for _, id in ipairs(WRITE_ORDER) do
    local packed = WRITES[id]
    if packed then
      args[#args + 1] = id
      args[#args + 1] = packed
      if #args >= 2000 then
        redis.call('HSET', K_tasks, unpack(args))
        args = {}
      end
    end
  end
  if #args > 0 then redis.call('HSET', K_tasks, unpack(args)) end
  WRITES = {}
  WRITE_ORDER = {}
end

-- The reply form of a record: { id, packed record } (codec.ts decodes it).
local function wire(id, r)
  local n = R_COUNT
  while n > R_HEAD and r[n] == nil do n = n - 1 end
  return { id, cmsgpack.pack(unpack(r, 1, n)) }
end

-- ---- index writes ----------------------------------------------------------------------------------

-- Writes to the state indexes (zsets, lists) are queued per key, in order, and consecutive writes
-- of one kind to one key go out as one variadic command. A script that reads an index after
-- writing to it calls `read_index`, which sends what is queued first.
local OPS = {}
local OP_KEYS = {}

local function queue_op(cmd, key, a, b)
  local groups = OPS[key]
  if not groups then
    groups = {}
    OPS[key] = groups
    OP_KEYS[#OP_KEYS + 1] = key
  end
  local g = groups[#groups]
  if not g or g.cmd ~= cmd then
    g = { cmd = cmd, n = 0 }
    groups[#groups + 1] = g
  end
  g.n = g.n + 1
  g[g.n] = a
  if b ~= nil then
    g.n = g.n + 1
    g[g.n] = b
  end
end

local function zadd(key, score, id) queue_op('ZADD', key, score, id) end
local function zrem(key, id) queue_op('ZREM', key, id) end
local function rpush(key, id) queue_op('RPUSH', key, id) end

-- One variadic command over `args`, in even-sized chunks that stay inside unpack's limit.
local function call_chunked(cmd, key, args, n)
  n = n or #args
  for first = 1, n, 2000 do
    redis.call(cmd, key, unpack(args, first, math.min(first + 1999, n)))
  end
end

local function write_ops()
  for _, key in ipairs(OP_KEYS) do
    for _, g in ipairs(OPS[key]) do
      call_chunked(g.cmd, key, g, g.n)
    end
  end
  OPS = {}
  OP_KEYS = {}
end

local function read_index(...)
  if #OP_KEYS > 0 then write_ops() end
  return redis.call(...)
end

local function run_at(r) return r[R_runAt] or r[R_createdAt] end

local function is_finished(state)
  return state == ST_completed or state == ST_dead or state == ST_cancelled
end

-- ---- collected side effects -------------------------------------------------------------------------

local MARK_DUE = nil
local COUNT_DELTA = {}
local OUTBOX_USED = 0
local WORK = {}

-- Wake blocked workers: the marker's score is the earliest time work is due (0 = now).
local function mark_work(due)
  if MARK_DUE == nil or due < MARK_DUE then MARK_DUE = due end
end

local function count(state, delta)
  COUNT_DELTA[state] = (COUNT_DELTA[state] or 0) + delta
end

-- ---- states ---------------------------------------------------------------------------------------

-- Unfinished states other than pending have a zset (by due time, lease expiry, creation).
local INDEX = { [ST_scheduled] = K_scheduled, [ST_processing] = K_processing, [ST_blocked] = K_blocked }
-- Pending tasks live in per-priority lists, and finished ones in a list per state in the order
-- they finished (what retention reads): appending costs a tenth of a zset insert.
local FINISHED_LIST = { [ST_completed] = K_completed, [ST_dead] = K_dead, [ST_cancelled] = K_cancelled }

-- Takes the task out of its state's index and count. A list entry (pending or finished) stays
-- behind: claims and retention skip entries whose task is no longer in that state, which keeps
-- cancel and retry O(1).
local function leave(id, r)
  local state = r[R_state]
  if state == nil then return end
  count(state, -1)
  local index = INDEX[state]
  if index then zrem(index, id) end
  if state == ST_processing and r[R_startedAt] == nil then zrem(K_prefetched, id) end
end

-- Puts the task in a state (the caller saves the record). `score` orders the state's zset.
local function enter(id, r, state, score)
  r[R_state] = state
  count(state, 1)
  if state == ST_pending then
    rpush(K_pendingPrefix .. r[R_priority], id)
    mark_work(0)
  elseif FINISHED_LIST[state] then
    rpush(FINISHED_LIST[state], id)
  else
    zadd(INDEX[state], score, id)
  end
end

local function move(id, r, state, score)
  leave(id, r)
  enter(id, r, state, score)
end

-- Pending now, or scheduled until `at`.
local function make_ready(id, r, at)
  if at == r[R_createdAt] then r[R_runAt] = nil else r[R_runAt] = at end
  if at > NOW then
    move(id, r, ST_scheduled, at)
    mark_work(at)
  else
    move(id, r, ST_pending, 0)
  end
end

local function make_error(reason, message, attempt)
  return { reason = reason, message = message, attempt = attempt, at = NOW }
end

local function push_error(r, err)
  local history = {}
  if r[R_errors] then history = cjson.decode(r[R_errors]) end
  history[#history + 1] = err
  while #history > ERROR_HISTORY_LIMIT do table.remove(history, 1) end
  r[R_error] = cjson.encode(err)
  r[R_errors] = cjson.encode(history)
end

local function clear_lease(r)
  r[R_leaseToken] = nil
  r[R_leaseExpiresAt] = nil
end

-- Ends a task for good (completed, dead or cancelled), saves it, queues its dependents, and
-- records its event: task:completed, or task:dead / task:cancelled with `err`, or with `why` when
-- the error was pushed already.
local function end_task(id, r, state, err, why)
  if is_finished(r[R_state]) then return end
  if r[R_state] == ST_blocked then redis.call('DEL', K_waitingPrefix .. id) end
  if err then push_error(r, err) end
  clear_lease(r)
  r[R_finishedAt] = NOW
  move(id, r, state, NOW)
  if EVENTS_ON then
    why = err or why
    if why then event(END_EVENT[state], id, r, why.reason, why.message) else event(END_EVENT[state], id, r) end
  end
  if r[R_deadline] then zrem(K_deadlines, id) end
  -- Only a task some other task waits on has a dependents set (linking marks the record).
  local has_dependents = r[R_hasDependents]
  r[R_hasDependents] = nil
  save(id, r)
  if has_dependents then
    local dkey = K_dependentsPrefix .. id
    local dependents = redis.call('SMEMBERS', dkey)
    redis.call('DEL', dkey)
    for _, member in ipairs(dependents) do WORK[#WORK + 1] = { member, id, STATE_NAME[state] } end
  end
end

-- Registers `dependent` (`queue|id`) as waiting on the unfinished task `id` (record `r`).
local function add_dependent(id, r, dependent)
  redis.call('SADD', K_dependentsPrefix .. id, dependent)
  if not r[R_hasDependents] then
    r[R_hasDependents] = 1
    save(id, r)
  end
end

-- ---- dependencies -----------------------------------------------------------------------------------

-- One dependency of a task in this queue reached a final state (`outcome` is its state's name).
local function resolve_one(task_id, dep_id, outcome)
  local r = load(task_id)
  if not r or r[R_state] ~= ST_blocked then return end
  local wkey = K_waitingPrefix .. task_id
  if outcome == 'completed' then
    if redis.call('SREM', wkey, dep_id) == 1 and redis.call('SCARD', wkey) == 0 then
      redis.call('DEL', wkey)
      make_ready(task_id, r, run_at(r))
      save(task_id, r)
    end
  else
    end_task(task_id, r, ST_cancelled,
      make_error('dependency_failed', 'dependency ' .. dep_id .. ' is ' .. outcome, r[R_attempt]))
  end
end

-- Settles what end_task queued: here for this queue, through the outbox for the others.
local function drain_work()
  local i = 1
  while i <= #WORK do
    local item = WORK[i]
    local sep = string.find(item[1], '|', 1, true)
    local queue = string.sub(item[1], 1, sep - 1)
    local task_id = string.sub(item[1], sep + 1)
    if queue == QUEUE then
      resolve_one(task_id, item[2], item[3])
    else
      redis.call('RPUSH', K_outbox, queue .. '|' .. task_id .. '|' .. item[2] .. '|' .. item[3] .. '|' .. NOW)
      OUTBOX_USED = 1
    end
    i = i + 1
  end
  WORK = {}
end

-- ---- scheduling -------------------------------------------------------------------------------------

-- Due scheduled tasks become pending, in due order; bounded so one call stays short.
local function promote_due(limit)
  local due = read_index('ZRANGEBYSCORE', K_scheduled, '-inf', NOW, 'LIMIT', 0, limit)
  load_many(due)
  for _, id in ipairs(due) do
    local r = load(id)
    if r then
      move(id, r, ST_pending, 0)
      save(id, r)
    else
      zrem(K_scheduled, id)
    end
  end
  return #due
end

-- ---- replayed calls ---------------------------------------------------------------------------------

-- ioredis re-sends a command whose reply was lost to a reconnect; a claim or steal run twice would
-- lease tasks to nobody. Each such call logs what it handed out under its token prefix, and a
-- replay answers the same tasks (those still held under that prefix) instead of taking more.
local CLAIM_LOG_MS = 60000

local function replayed_claim(token_prefix)
  local logged = redis.call('GET', K_claimLogPrefix .. token_prefix)
  if not logged then return nil end
  local out = {}
  for id in string.gmatch(logged, '[^,]+') do
    local r = load(id)
    if r and r[R_state] == ST_processing and r[R_leaseToken] == token_prefix then
      out[#out + 1] = wire(id, r)
    end
  end
  return out
end

local function log_claim(token_prefix, ids)
  if #ids > 0 then redis.call('SET', K_claimLogPrefix .. token_prefix, table.concat(ids, ','), 'PX', CLAIM_LOG_MS) end
end

-- Writes the collected side effects; every script that changes anything calls it last.
local function finish()
  drain_work()
  flush_events()
  write_records()
  write_ops()
  for state, delta in pairs(COUNT_DELTA) do
    if delta ~= 0 then redis.call('HINCRBY', K_meta, 'n' .. state, delta) end
  end
  COUNT_DELTA = {}
  if MARK_DUE ~= nil then redis.call('ZADD', K_marker, 'LT', MARK_DUE, 'next') end
  MARK_DUE = nil
  return OUTBOX_USED
end
