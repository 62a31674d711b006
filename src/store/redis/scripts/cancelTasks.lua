--[[ cancelTasks: cancels tasks of one queue. Waiting tasks end cancelled (their dependents too);
a processing task gets a cancel request that renewLeases reports to its worker.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   then task ids
Returns: { outboxUsed (0|1), per id: cancelled | cancel_requested | already_finished | not_found }
Events: task:cancelled per task cancelled now and per dependent cancelled in this queue; none for a
cancel request.
]]
--- @include "lib/common"

local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local r = load(id)
  if not r then
    out[#out + 1] = 'not_found'
  elseif is_finished(r[R_state]) then
    out[#out + 1] = 'already_finished'
  elseif r[R_state] == ST_processing then
    r[R_cancelRequested] = 1
    save(id, r)
    out[#out + 1] = 'cancel_requested'
  else
    end_task(id, r, ST_cancelled, make_error('cancelled', 'cancelled before it ran', r[R_attempt]))
    out[#out + 1] = 'cancelled'
  end
end

return { finish(), out }
