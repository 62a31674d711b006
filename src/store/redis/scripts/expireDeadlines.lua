--[[ expireDeadlines: unfinished tasks of one queue past their deadline go dead (deadline_exceeded).
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] limit
Returns: { outboxUsed (0|1), ids of the tasks that went dead }
Events: task:dead (deadline_exceeded) for each, task:cancelled for dependents cancelled in this queue.
]]
--- @include "lib/common"

local expired = {}
local due = redis.call('ZRANGEBYSCORE', K_deadlines, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[3]))
load_many(due)
for _, id in ipairs(due) do
  zrem(K_deadlines, id)
  local r = load(id)
  if r and not is_finished(r[R_state]) then
    end_task(id, r, ST_dead, make_error('deadline_exceeded',
      'deadline ' .. string.format('%d', r[R_deadline]) .. ' (epoch ms) passed', r[R_attempt]))
    expired[#expired + 1] = id
  end
end

return { finish(), expired }
