--[[ retryTasks: sends dead or cancelled tasks of one queue back to pending with a fresh set of
attempts. The error history is kept; dependencies are treated as settled.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   then task ids
Returns: { outboxUsed (always 0), per id: retried | not_retryable | not_found }
Events: task:retried per retried task.
]]
--- @include "lib/common"

local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local r = load(id)
  if not r then
    out[#out + 1] = 'not_found'
  elseif r[R_state] ~= ST_dead and r[R_state] ~= ST_cancelled then
    out[#out + 1] = 'not_retryable'
  else
    r[R_attempt] = 0
    r[R_finishedAt] = nil
    r[R_result] = nil
    r[R_workerId] = nil
    r[R_startedAt] = nil
    r[R_cancelRequested] = nil
    clear_lease(r)
    if r[R_deadline] then zadd(K_deadlines, r[R_deadline], id) end
    make_ready(id, r, NOW)
    save(id, r)
    event(EV_retried, id, r)
    out[#out + 1] = 'retried'
  end
end

return { finish(), out }
