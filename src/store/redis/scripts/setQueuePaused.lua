--[[ setQueuePaused: pauses or resumes one queue; resuming wakes idle workers.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] '1' to pause, '0' to resume
Returns: 1
]]
--- @include "lib/common"

if ARGV[3] == '1' then
  redis.call('HSET', K_meta, 'paused', '1')
else
  redis.call('HDEL', K_meta, 'paused')
  mark_work(0)
end
finish()
return 1
