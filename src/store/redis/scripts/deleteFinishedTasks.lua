--[[ deleteFinishedTasks: retention. Deletes one queue's tasks of one finished state that finished
at or before a cutoff, with their idempotency keys.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] state code (completed | dead | cancelled)
ARGV[4] age ms (deletes what finished at or before now - age)   ARGV[5] limit
Returns: how many were deleted.
]]
--- @include "lib/common"

local state = ARGV[3]
local ids = redis.call('ZRANGEBYSCORE', INDEX[state], '-inf', NOW - tonumber(ARGV[4]), 'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(ids) do
  local r = load(id)
  if r then
    if r[R_key] and redis.call('HGET', K_idempotency, r[R_key]) == id then redis.call('HDEL', K_idempotency, r[R_key]) end
    redis.call('HDEL', K_tasks, id)
    count(state, -1)
  end
  redis.call('DEL', K_dependentsPrefix .. id, K_waitingPrefix .. id)
  redis.call('ZREM', INDEX[state], id)
end

-- Drop deleted ids from the head of the arrival list; `trimmed` keeps list cursors valid.
local trimmed = 0
while trimmed < 1000 do
  local head = redis.call('LINDEX', K_all, 0)
  if not head or redis.call('HEXISTS', K_tasks, head) == 1 then break end
  redis.call('LPOP', K_all)
  trimmed = trimmed + 1
end
if trimmed > 0 then redis.call('HINCRBY', K_meta, 'trimmed', trimmed) end

finish()
return #ids
