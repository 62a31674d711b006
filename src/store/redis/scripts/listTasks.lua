--[[ listTasks: one page of one queue's tasks, newest first, walking the arrival list downwards.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (unused)   ARGV[2] queue   ARGV[3] cursor: absolute position to continue below ('' = from
  the newest)   ARGV[4] how many entries to examine   ARGV[5] state code filter ('' = any)
ARGV[6] type filter ('' = any)
Positions are absolute (entries ever trimmed from the head + index), so they survive retention.
Returns: { position of the oldest entry examined (-1 when the list is exhausted), then per match:
  { position, wire record } }
]]
--- @include "lib/common"

local trimmed = tonumber(redis.call('HGET', K_meta, 'trimmed') or '0')
local length = redis.call('LLEN', K_all)
local top = length - 1
if ARGV[3] ~= '' then top = math.min(top, tonumber(ARGV[3]) - trimmed - 1) end
if top < 0 then return { -1 } end
local bottom = math.max(0, top - tonumber(ARGV[4]) + 1)
local ids = redis.call('LRANGE', K_all, bottom, top)
local out = { bottom + trimmed }
if bottom == 0 then out[1] = -1 end
for j = #ids, 1, -1 do
  local id = ids[j]
  local r = load(id)
  if r and (ARGV[5] == '' or r[R_state] == ARGV[5]) and (ARGV[6] == '' or r[R_type] == ARGV[6]) then
    out[#out + 1] = { bottom + j - 1 + trimmed, wire(id, r) }
  end
end
return out
