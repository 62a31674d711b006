--[[ claimTasks: leases up to `limit` due tasks of one queue to a worker.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] limit   ARGV[4] lease length ms   ARGV[5] worker id
ARGV[6] token prefix (random per call; a task's token is `<prefix>.<n>`); a call replayed with the
  same prefix (re-sent after a reconnect) answers the tasks the first run handed out
ARGV[7] how many due scheduled tasks to promote first
ARGV[8] how many of the claimed tasks start now; the rest are prefetched (startedAt stays empty
  until startTasks confirms them, and stealTasks may move them to an idle worker)
Returns: { outboxUsed (0|1), wire record per claimed task, in claim order }
Order: priority (10 first), then the order in which tasks became ready. A paused queue yields
nothing. A task past its deadline is not handed out: it goes dead (deadline_exceeded).
]]
--- @include "lib/common"

local token_prefix = ARGV[6]
local replay = replayed_claim(token_prefix)
if replay then return { 0, replay } end
if redis.call('HGET', K_meta, 'paused') == '1' then return { 0, {} } end

local limit = tonumber(ARGV[3])
local expires = NOW + tonumber(ARGV[4])
local worker = ARGV[5]
promote_due(tonumber(ARGV[7]))
local start_limit = tonumber(ARGV[8])

local out = {}
local claimed_ids = {}
local pending = tonumber(redis.call('HGET', K_meta, 'n' .. ST_pending) or '0') + (COUNT_DELTA[ST_pending] or 0)
local priority = 10
while #out < limit and pending > 0 and priority >= 0 do
  local ids = redis.call('LPOP', K_pendingPrefix .. priority, limit - #out)
  if not ids then
    priority = priority - 1
  else
    for _, id in ipairs(ids) do
      local r = load(id)
      -- Entries of tasks that left `pending` (cancelled, expired, already claimed) are skipped.
      if r and r[R_state] == ST_pending then
        pending = pending - 1
        if r[R_deadline] and r[R_deadline] <= NOW then
          end_task(id, r, ST_dead, make_error('deadline_exceeded', 'deadline passed before the task could start', r[R_attempt]))
        else
          r[R_attempt] = r[R_attempt] + 1
          r[R_workerId] = worker
          r[R_leaseToken] = token_prefix .. '.' .. (#out + 1)
          r[R_leaseExpiresAt] = expires
          r[R_cancelRequested] = nil
          move(id, r, ST_processing, expires)
          if #out < start_limit then
            r[R_startedAt] = NOW
          else
            r[R_startedAt] = nil
            redis.call('ZADD', K_prefetched, NOW, id)
          end
          save(id, r)
          out[#out + 1] = wire(id, r)
          claimed_ids[#claimed_ids + 1] = id
        end
      end
    end
  end
end

-- More work is waiting: pass the wake-up on to the next idle worker.
if pending > 0 then mark_work(0) end
log_claim(token_prefix, claimed_ids)
return { finish(), out }
