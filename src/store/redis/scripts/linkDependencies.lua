--[[ linkDependencies: registers tasks of other queues as dependents of tasks in this queue, before
those dependents are inserted (src/store/redis/dependencies.ts explains the protocol).
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   then pairs: dependency id, dependent as `queue|id`
Returns: per pair the dependency's standing: linked (unfinished, now linked) | completed | dead |
  cancelled | missing
]]
--- @include "lib/common"

local out = {}
for i = 3, #ARGV, 2 do
  local dep = ARGV[i]
  local r = load(dep)
  if not r then
    out[#out + 1] = 'missing'
  elseif is_finished(r[R_state]) then
    out[#out + 1] = STATE_NAME[r[R_state]]
  else
    add_dependent(dep, r, ARGV[i + 1])
    out[#out + 1] = 'linked'
  end
end
finish()
return out
