-- Task events. Every change of a task a script makes is collected here as one packed event, and
-- finish() writes them all with ONE `XADD <events> MAXLEN <~|=> <retain> * t <now> e <packed>`, so
-- events cost a command per call, never per task (none at all when the call changed nothing, and
-- nothing is even collected when the store keeps no events: EVENTS_RETAIN = 0).
--
-- `t` is the script's NOW, the `at` of every event of the entry (so it is not repeated per event);
-- <packed> is one MessagePack array of events, each itself an array (src/store/redis/events.ts
-- decodes them):
--   [code, task id, type, attempt, state code, extras…]
-- code = index in TASK_EVENT_NAMES (EV_<name> in the generated header), attempt and state = the
-- task's after the change; extras by code:
--   claimed:          workerId[, due]           (due = the runAt the wait counts from, none on a
--                                                steal; the reader turns it into waitMs)
--   progress:         progress JSON
--   failed:           reason, message, retryAt
--   dead, cancelled:  reason, message
-- Events are kept as pieces of bytes in EVENTS (EVENTS[1] is kept for the array header), joined
-- once by flush_events: no string is built per event. The general paths pack each event with
-- one cmsgpack.pack; the fast paths (lib/fast.lua, insertTasks, finishTasks) append the pieces of
-- theirs from constants and bytes of the packed record (the type is copied, not decoded).
-- Included by lib/common, after NOW.

local EVENTS_ON = EVENTS_RETAIN > 0
local EVENTS = { '' }
-- Pieces in EVENTS (the header slot included), and events.
local NEV = 1
local NEVENTS = 0

-- MessagePack fixstr headers, by length (filled as met: this runs at every call).
local FIXSTR = {}

-- The packed header of a string (a task id) of `n` bytes, as cmsgpack writes it.
local function str_header(n)
  if n < 32 then
    local h = FIXSTR[n]
    if not h then
      h = string.char(0xa0 + n)
      FIXSTR[n] = h
    end
    return h
  end
  if n < 256 then return '\217' .. string.char(n) end
  return '\218' .. string.char(math.floor(n / 256), n % 256)
end

-- The packed header of a 26-character id (every id the client makes: src/ids.ts).
local ID26 = '\186'

-- A short string (a worker id) packed.
local function pack_str(s)
  if #s < 32 then return str_header(#s) .. s end
  return cmsgpack.pack(s)
end

-- The packed start of the fast paths' events: array header (5 or 7 values) and code.
local SUBMITTED5 = '\149' .. string.char(EV_submitted)
local CLAIMED7 = '\151' .. string.char(EV_claimed)
local COMPLETED5 = '\149' .. string.char(EV_completed)

-- One event of a task, its type, attempt and state given (extras after them, none nil).
local function event_of(code, id, task_type, attempt, state, ...)
  if not EVENTS_ON then return end
  NEV = NEV + 1
  EVENTS[NEV] = string.char(0x95 + select('#', ...)) .. cmsgpack.pack(code, id, task_type, attempt or 0, state, ...)
  NEVENTS = NEVENTS + 1
end

-- One event of the task whose (decoded) record is `r`, as it stands now.
local function event(code, id, r, ...)
  if not EVENTS_ON then return end
  event_of(code, id, r[R_type], r[R_attempt], r[R_state], ...)
end

-- The event an ended task gets: completed, dead or cancelled (with why).
local END_EVENT = { [ST_completed] = EV_completed, [ST_dead] = EV_dead, [ST_cancelled] = EV_cancelled }

local function flush_events()
  local n = NEVENTS
  if n == 0 then return end
  if n < 16 then
    EVENTS[1] = string.char(0x90 + n)
  elseif n < 65536 then
    EVENTS[1] = '\220' .. string.char(math.floor(n / 256), n % 256)
  else
    EVENTS[1] = '\221' .. string.char(math.floor(n / 16777216), math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  end
  redis.call('XADD', K_events, 'MAXLEN', EVENTS_TRIM, EVENTS_RETAIN, '*',
    't', string.format('%.17g', NOW), 'e', table.concat(EVENTS, '', 1, NEV))
  EVENTS = { '' }
  NEV = 1
  NEVENTS = 0
end
