--[[ deleteFinishedTasks: retention. Deletes one queue's tasks of one finished state that finished
at or before a cutoff, with their idempotency keys.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] state code (completed | dead | cancelled)
ARGV[4] age ms (deletes what finished at or before now - age)   ARGV[5] limit
Returns: how many were deleted.
]]
--- @include "lib/common"

local state = ARGV[3]
local list = FINISHED_LIST[state]
local cutoff = NOW - tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
-- The list is in finishing order: read its head until a task of this state finished after the
-- cutoff. Entries of tasks that left the state or were deleted are dropped on the way; bounded so
-- one call stays short.
local deleted, popped = 0, 0
local examine = limit + 1000
local reached = false
while not reached and deleted < limit and popped < examine do
  local ids = redis.call('LRANGE', list, popped, popped + 99)
  if #ids == 0 then break end
  load_many(ids)
  for _, id in ipairs(ids) do
    local r = load(id)
    if r and r[R_state] == state then
      if r[R_finishedAt] > cutoff or deleted >= limit then
        reached = true
        break
      end
      if r[R_key] and redis.call('HGET', K_idempotency, r[R_key]) == id then redis.call('HDEL', K_idempotency, r[R_key]) end
      drop(id)
      count(state, -1)
      redis.call('DEL', K_dependentsPrefix .. id, K_waitingPrefix .. id)
      deleted = deleted + 1
    end
    popped = popped + 1
  end
end
if popped > 0 then redis.call('LTRIM', list, popped, -1) end

-- Drop deleted ids from the head of the arrival list; `trimmed` keeps list cursors valid.
local trimmed = 0
while trimmed < 1000 do
  local head = redis.call('LINDEX', K_all, 0)
  if not head or load(head) then break end
  redis.call('LPOP', K_all)
  trimmed = trimmed + 1
end
if trimmed > 0 then redis.call('HINCRBY', K_meta, 'trimmed', trimmed) end

finish()
return deleted
