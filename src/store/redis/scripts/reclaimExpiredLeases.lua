--[[ reclaimExpiredLeases: takes back one queue's tasks whose lease expired (their worker died or
froze). The attempt stays spent, so a task that kills its worker every time ends dead.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] limit
Returns: { outboxUsed (0|1), retried ids, dead ids, cancelled ids }
Events: task:reclaimed for each (with the state it went to), then task:dead (lease_expired) or
task:cancelled for those that ended there, and task:cancelled for dependents cancelled in this queue.
]]
--- @include "lib/common"

local retried, dead, cancelled = {}, {}, {}
local expired = redis.call('ZRANGEBYSCORE', K_processing, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[3]))
load_many(expired)
for _, id in ipairs(expired) do
  local r = load(id)
  if not r or r[R_state] ~= ST_processing then
    zrem(K_processing, id)
  else
    local lease_error = make_error('lease_expired', 'lease of worker ' .. (r[R_workerId] or '?') .. ' expired', r[R_attempt])
    push_error(r, lease_error)
    if r[R_cancelRequested] then
      event_of(EV_reclaimed, id, r[R_type], r[R_attempt], ST_cancelled)
      end_task(id, r, ST_cancelled, make_error('cancelled', 'cancelled: its lease expired while a cancel was requested', r[R_attempt]))
      cancelled[#cancelled + 1] = id
    elseif r[R_attempt] >= r[R_maxAttempts] then
      event_of(EV_reclaimed, id, r[R_type], r[R_attempt], ST_dead)
      end_task(id, r, ST_dead, nil, lease_error)
      dead[#dead + 1] = id
    else
      clear_lease(r)
      make_ready(id, r, NOW)
      save(id, r)
      event(EV_reclaimed, id, r)
      retried[#retried + 1] = id
    end
  end
end

return { finish(), retried, dead, cancelled }
