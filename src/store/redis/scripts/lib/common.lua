-- Shared fragments, included by every per-queue script after the generated header (K_<key>,
-- R_<record field>, ST_<state> = code, STATE_NAME, ERROR_HISTORY_LIMIT; see scripts.ts).
-- Conventions: ARGV[1] is `now` in epoch ms or '' for the server's clock; ARGV[2] is the queue name.
-- Every script ends with `finish()`, which writes what was collected along the way once.

--- @include "lib/clock"
local NOW = current_time(ARGV[1])
local QUEUE = ARGV[2]

-- ---- records -------------------------------------------------------------------------------------

local function load(id)
  local packed = redis.call('HGET', K_tasks, id)
  if not packed then return nil end
  return { cmsgpack.unpack(packed) }
end

local function save(id, r)
  local n = R_COUNT
  while n > 1 and r[n] == nil do n = n - 1 end
  redis.call('HSET', K_tasks, id, cmsgpack.pack(unpack(r, 1, n)))
end

-- The reply form of a record: { id, field 1, ..., field N }, false (nil to the client) for empty.
local function wire(id, r)
  local out = { id }
  for i = 1, R_COUNT do
    local v = r[i]
    if v == nil then out[i + 1] = false else out[i + 1] = v end
  end
  return out
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

-- Pending tasks live in per-priority lists; every other unfinished or finished state has a zset.
local INDEX = {
  [ST_scheduled] = K_scheduled, [ST_processing] = K_processing, [ST_blocked] = K_blocked,
  [ST_completed] = K_completed, [ST_dead] = K_dead, [ST_cancelled] = K_cancelled,
}

-- Takes the task out of its state's index and count. A pending task's list entry stays behind:
-- claims skip entries whose task is no longer pending, which keeps cancel O(1).
local function leave(id, r)
  local state = r[R_state]
  if state == nil then return end
  count(state, -1)
  local index = INDEX[state]
  if index then redis.call('ZREM', index, id) end
  if state == ST_processing and r[R_startedAt] == nil then redis.call('ZREM', K_prefetched, id) end
end

-- Puts the task in a state (the caller saves the record). `score` orders the state's zset.
local function enter(id, r, state, score)
  r[R_state] = state
  count(state, 1)
  if state == ST_pending then
    redis.call('RPUSH', K_pendingPrefix .. r[R_priority], id)
    mark_work(0)
  else
    redis.call('ZADD', INDEX[state], score, id)
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

-- Ends a task for good (completed, dead or cancelled), saves it, and queues its dependents.
local function end_task(id, r, state, err)
  if is_finished(r[R_state]) then return end
  if r[R_state] == ST_blocked then redis.call('DEL', K_waitingPrefix .. id) end
  if err then push_error(r, err) end
  clear_lease(r)
  r[R_finishedAt] = NOW
  move(id, r, state, NOW)
  redis.call('ZREM', K_deadlines, id)
  save(id, r)
  local dkey = K_dependentsPrefix .. id
  local dependents = redis.call('SMEMBERS', dkey)
  if #dependents > 0 then
    redis.call('DEL', dkey)
    for _, member in ipairs(dependents) do WORK[#WORK + 1] = { member, id, STATE_NAME[state] } end
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
  local due = redis.call('ZRANGEBYSCORE', K_scheduled, '-inf', NOW, 'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    local r = load(id)
    if r then
      move(id, r, ST_pending, 0)
      save(id, r)
    else
      redis.call('ZREM', K_scheduled, id)
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
    if r and r[R_state] == ST_processing and string.sub(r[R_leaseToken] or '', 1, #token_prefix + 1) == token_prefix .. '.' then
      out[#out + 1] = wire(id, r)
    end
  end
  return out
end

local function log_claim(token_prefix, ids)
  if #ids > 0 then redis.call('SET', K_claimLogPrefix .. token_prefix, table.concat(ids, ','), 'PX', CLAIM_LOG_MS) end
end

-- Writes the collected side effects; every script calls it last.
local function finish()
  drain_work()
  for state, delta in pairs(COUNT_DELTA) do
    if delta ~= 0 then redis.call('HINCRBY', K_meta, 'n' .. state, delta) end
  end
  COUNT_DELTA = {}
  if MARK_DUE ~= nil then redis.call('ZADD', K_marker, 'LT', MARK_DUE, 'next') end
  MARK_DUE = nil
  return OUTBOX_USED
end
