--[[ eventsTail: where one queue's events stream ends, for a reader that starts "from now".
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (unused)   ARGV[2] queue
Returns: the id of the stream's last entry, or false when the queue has no events stream. Read
  here rather than with XREVRANGE from the client, so that the entry itself never travels.
]]

local last = redis.call('XREVRANGE', K_events, '+', '-', 'COUNT', 1)
if last[1] then return last[1][1] end
return false
