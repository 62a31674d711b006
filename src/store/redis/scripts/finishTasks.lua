--[[ finishTasks: records the outcomes of attempts in one queue, fenced by lease token.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue
then either 'C' and one binary argument holding only completions (codec.ts packCompletions: per
item its 26-byte id, token length (1 byte), token, result length (4 bytes, big endian), result
JSON, empty for null), or 6 per item: id, token, outcome, a, b, c where
  complete: a = result JSON ('' = null)
  fail:     a = error JSON { reason, message, name?, stack? }, b = retry delay ms, c = '1' if permanent
  release:  a = delay ms ('' = none)
  cancel:   (nothing)
Returns: { outboxUsed (0|1), per item the task's new state code, or 'lease_lost' when the task is
  not processing under that token (nothing is changed then) }
A cancel requested while the attempt ran wins over a retry or a release: the task ends cancelled.
Events: task:completed; task:failed (with retryAt) for a failure that will run again; task:dead;
task:released; task:cancelled (and task:cancelled for each dependent cancelled in this queue);
nothing for lease_lost.
]]
--- @include "lib/common"
--- @include "lib/fast"

-- The items as a flat list, 6 per item, whichever form they came in.
local A = {}
if ARGV[3] == 'C' then
  local blob, at = ARGV[4], 1
  while at <= #blob do
    local token_end = at + 26 + string.byte(blob, at + 26)
    local b1, b2, b3, b4 = string.byte(blob, token_end + 1, token_end + 4)
    local result_end = token_end + 4 + ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    A[#A + 1] = string.sub(blob, at, at + 25)
    A[#A + 1] = string.sub(blob, at + 27, token_end)
    A[#A + 1] = 'complete'
    A[#A + 1] = string.sub(blob, token_end + 5, result_end)
    A[#A + 1] = ''
    A[#A + 1] = ''
    at = result_end + 1
  end
else
  for i = 3, #ARGV do A[i - 2] = ARGV[i] end
end

-- The usual batch: every item completes a distinct task that no other task waits on. It is done
-- in one pass over the packed records (lib/fast.lua), with one command per kind of write.
local function complete_packed_all()
  local n = #A / 6
  if n > 1000 then return nil end
  local ids = {}
  for k = 1, n do
    local i = k * 6 - 5
    if A[i + 2] ~= 'complete' then return nil end
    ids[k] = A[i]
  end
  local packed = redis.call('HMGET', K_tasks, unpack(ids))
  local records, processing, completed, deadlines, out, seen = {}, {}, {}, {}, {}, {}
  for k = 1, n do
    local id, i = ids[k], k * 6 - 5
    local s = packed[k]
    if seen[id] then return nil end
    seen[id] = true
    if not s then
      out[k] = 'lease_lost'
    else
      local record, has_deadline = complete_packed(s, A[i + 1], A[i + 3], NOW, id)
      -- Not in the simple shape: the general path takes the whole batch (nothing is written yet).
      if record == nil then return nil end
      if record == false then
        out[k] = 'lease_lost'
      else
        records[#records + 1] = id
        records[#records + 1] = record
        processing[#processing + 1] = id
        completed[#completed + 1] = id
        if has_deadline then deadlines[#deadlines + 1] = id end
        out[k] = ST_completed
      end
    end
  end
  if #processing > 0 then
    call_chunked('HSET', K_tasks, records)
    call_chunked('ZREM', K_processing, processing)
    call_chunked('RPUSH', K_completed, completed)
    if #deadlines > 0 then call_chunked('ZREM', K_deadlines, deadlines) end
    count(ST_processing, -#processing)
    count(ST_completed, #processing)
  end
  return out
end

-- complete_packed appends each task:completed as it goes: when the batch falls back to the
-- general path, those events are dropped (the general path records its own).
local function complete_all()
  local nev, nevents = NEV, NEVENTS
  local out = complete_packed_all()
  if not out then
    NEV = nev
    NEVENTS = nevents
  end
  return out
end

local fast = complete_all()
if fast then return { finish(), fast } end

local ids = {}
for i = 1, #A, 6 do ids[#ids + 1] = A[i] end
load_many(ids)

local out = {}
for i = 1, #A, 6 do
  local id, token, outcome = A[i], A[i + 1], A[i + 2]
  local r = load(id)
  if not r or r[R_state] ~= ST_processing or r[R_leaseToken] ~= token then
    out[#out + 1] = 'lease_lost'
  else
    local attempt = r[R_attempt]
    if outcome == 'complete' then
      if A[i + 3] ~= '' then r[R_result] = A[i + 3] end
      end_task(id, r, ST_completed, nil)
    elseif outcome == 'fail' then
      local err = cjson.decode(A[i + 3])
      err.attempt = attempt
      err.at = NOW
      push_error(r, err)
      local retry_at = NOW + tonumber(A[i + 4])
      if A[i + 5] == '1' or attempt >= r[R_maxAttempts] then
        end_task(id, r, ST_dead, nil, err)
      elseif r[R_deadline] and retry_at >= r[R_deadline] then
        end_task(id, r, ST_dead, make_error('deadline_exceeded', 'the next attempt would start after the deadline', attempt))
      elseif r[R_cancelRequested] then
        -- A retry would clear the request at its next claim and lose the cancel.
        end_task(id, r, ST_cancelled, make_error('cancelled', 'cancelled while processing', attempt))
      else
        clear_lease(r)
        make_ready(id, r, retry_at)
        save(id, r)
        event(EV_failed, id, r, err.reason, err.message, retry_at)
      end
    elseif outcome == 'release' and r[R_cancelRequested] then
      end_task(id, r, ST_cancelled, make_error('cancelled', 'cancelled while processing', attempt))
    elseif outcome == 'release' then
      clear_lease(r)
      r[R_workerId] = nil
      r[R_attempt] = attempt - 1
      make_ready(id, r, NOW + (tonumber(A[i + 3]) or 0))
      save(id, r)
      event(EV_released, id, r)
    else
      end_task(id, r, ST_cancelled, make_error('cancelled', 'cancelled while processing', attempt))
    end
    out[#out + 1] = r[R_state]
  end
end

return { finish(), out }
