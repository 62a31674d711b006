--[[ resolveDependencies: applies, in this queue, dependency outcomes that another queue's outbox
owes it. Idempotent: a resolution already applied changes nothing.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   then triples: dependent task id, dependency id, outcome
  (completed | dead | cancelled)
Returns: { outboxUsed (0|1), per triple: applied | missing (the dependent does not exist yet) }
Events: task:cancelled (dependency_failed) for each dependent cancelled here; none for an unblock.
]]
--- @include "lib/common"

local out = {}
for i = 3, #ARGV, 3 do
  if not load(ARGV[i]) then
    out[#out + 1] = 'missing'
  else
    resolve_one(ARGV[i], ARGV[i + 1], ARGV[i + 2])
    out[#out + 1] = 'applied'
  end
  drain_work()
end

return { finish(), out }
