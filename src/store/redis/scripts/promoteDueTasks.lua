--[[ promoteDueTasks: moves due scheduled tasks of one queue to pending.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] limit
Returns: how many moved.
]]
--- @include "lib/common"

local moved = promote_due(tonumber(ARGV[3]))
finish()
return moved
