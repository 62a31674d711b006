--[[ getTasks: reads tasks of one queue.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (unused)   ARGV[2] queue   then task ids
Returns: per id a wire record, or 0 when there is no such task
]]
--- @include "lib/common"

local out = {}
for i = 3, #ARGV do
  local r = load(ARGV[i])
  if r then out[#out + 1] = wire(ARGV[i], r) else out[#out + 1] = 0 end
end
return out
