--[[ insertTasks: inserts a batch of tasks into one queue.
KEYS: the queue's keys (src/store/redis/keys.ts QUEUE_KEY_NAMES order).
ARGV[1] now (ms, or '' for the server clock)   ARGV[2] queue   ARGV[3] number of tasks
then per task: id, type, payload (JSON), priority, maxAttempts, backoff (codec.ts; '' = default),
  timeoutMs or '', deadline or '', runAt or '', delayMs or '' (used without runAt: due at now + delay),
  dependsOn (JSON array or ''), key or '',
  number of dependencies d, then d triples: dependency id, its queue, link status ('' when it is in
  this queue, else what linkDependencies reported: linked | completed | dead | cancelled).
Returns: { outboxUsed (0|1), per task in input order either
  { 1, id, state code, runAt, createdAt, error JSON or nil, finishedAt or nil } for a new task (the
  caller knows the rest; echoing the payload would only cost bandwidth), or
  { 0, wire record } for the existing task of a repeated idempotency key }
Errors: 'CONVEYOR_DEPENDENCY_NOT_FOUND <taskId> <depId>', raised before anything is written.
]]
--- @include "lib/common"

local count_tasks = tonumber(ARGV[3])

-- Pass 1: parse and validate, so that a bad dependency writes nothing.
local tasks = {}
local batch_ids = {}
local i = 4
for n = 1, count_tasks do
  local t = {
    id = ARGV[i], type = ARGV[i + 1], payload = ARGV[i + 2], priority = tonumber(ARGV[i + 3]),
    max_attempts = tonumber(ARGV[i + 4]), backoff = ARGV[i + 5], timeout = tonumber(ARGV[i + 6]),
    deadline = tonumber(ARGV[i + 7]), run_at = tonumber(ARGV[i + 8]), depends_on = ARGV[i + 10],
    key = ARGV[i + 11], deps = {},
  }
  if not t.run_at and tonumber(ARGV[i + 9]) then t.run_at = NOW + tonumber(ARGV[i + 9]) end
  local ndeps = tonumber(ARGV[i + 12])
  i = i + 13
  for d = 1, ndeps do
    local dep = { id = ARGV[i], queue = ARGV[i + 1], status = ARGV[i + 2] }
    if dep.queue == QUEUE and not batch_ids[dep.id] and redis.call('HEXISTS', K_tasks, dep.id) == 0 then
      return redis.error_reply('CONVEYOR_DEPENDENCY_NOT_FOUND ' .. t.id .. ' ' .. dep.id)
    end
    t.deps[d] = dep
    i = i + 3
  end
  batch_ids[t.id] = true
  tasks[n] = t
end

-- Pass 2: write.
local out = {}
for n, t in ipairs(tasks) do
  -- The same id again (a call re-sent after a reconnect) is the same task, not a second one.
  local existing = load(t.id)
  if existing then out[n] = { 0, wire(t.id, existing) } end
  if not existing and t.key ~= '' then
    local id = redis.call('HGET', K_idempotency, t.key)
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
    if t.key ~= '' then
      r[R_key] = t.key
      redis.call('HSET', K_idempotency, t.key, t.id)
    end
    redis.call('RPUSH', K_all, t.id)

    -- Which dependencies are still open, and did one already fail?
    local failed = nil
    local waiting = {}
    for _, dep in ipairs(t.deps) do
      local standing = dep.status
      if dep.queue == QUEUE then
        local state = load(dep.id)[R_state]
        if is_finished(state) then
          standing = STATE_NAME[state]
        else
          redis.call('SADD', K_dependentsPrefix .. dep.id, QUEUE .. '|' .. t.id)
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
      end_task(t.id, r, ST_cancelled,
        make_error('dependency_failed', 'dependency ' .. failed.id .. ' is ' .. failed.state, 0))
    else
      if t.deadline then redis.call('ZADD', K_deadlines, t.deadline, t.id) end
      if #waiting > 0 then
        if t.run_at then r[R_runAt] = t.run_at end
        redis.call('SADD', K_waitingPrefix .. t.id, unpack(waiting))
        enter(t.id, r, ST_blocked, NOW)
      else
        make_ready(t.id, r, t.run_at or NOW)
      end
      save(t.id, r)
    end
    out[n] = { 1, t.id, r[R_state], run_at(r), NOW, r[R_error] or false, r[R_finishedAt] or false }
  end
end

return { finish(), out }
