/*
 * ooblex_scripts.c - the hand-off scripts (see ooblex_scripts.h).
 *
 * Lua strings count from 1: the field at byte offset N of the message
 * starts at position N + 1.
 */
#include "ooblex_scripts.h"

#include "ooblex_wire.h"

#define WIRE(x) OOBLEX_WIRE_STR(x)

const char ooblex_script_reap[] =
	"if redis.call('EXISTS', KEYS[2]) == 1 then return {0, 0} end\n"
	"local fixed_len = " WIRE(OOBLEX_WIRE_FIXED_LEN) "\n"
	"local magic_at = " WIRE(OOBLEX_WIRE_OFF_MAGIC) " + 1\n"
	"local deadline_at = " WIRE(OOBLEX_WIRE_OFF_DEADLINE_US) " + 1\n"
	"local back, stale = 0, 0\n"
	"while true do\n"
	"  local m = redis.call('RPOP', KEYS[1])\n"
	"  if not m then break end\n"
	"  local deadline = 0\n"
	"  if #m >= fixed_len and string.sub(m, magic_at, magic_at + " WIRE(OOBLEX_WIRE_MAGIC_LEN) " - 1) == '"
		OOBLEX_WIRE_MAGIC "' then\n"
	"    deadline = struct.unpack('<I4', m, deadline_at + 4) * 4294967296 + struct.unpack('<I4', m, deadline_at)\n"
	"  end\n"
	"  if deadline ~= 0 and deadline < tonumber(ARGV[1]) then\n"
	"    stale = stale + 1\n"
	"  else\n"
	"    redis.call('RPUSH', KEYS[3], m)\n"
	"    back = back + 1\n"
	"  end\n"
	"end\n"
	"if stale > 0 then redis.call('INCRBY', KEYS[4], stale) end\n"
	"return {back, stale}\n";

const char ooblex_script_complete[] =
	"local n = tonumber(ARGV[1])\n"
	"local len = redis.call('LLEN', KEYS[1])\n"
	"if len < n then return 0 end\n"
	/* Where each frame of the batch is, counted from the right (1 = the
	 * oldest take). Normally at 1..n in order; searched for when a reap and
	 * later takes reordered the list. */
	"local at, used, from = {}, {}, 1\n"
	"for k = 1, n do\n"
	"  local want = ARGV[3 + k]\n"
	"  for j = 0, len - 1 do\n"
	"    local p = (from + j - 1) % len + 1\n"
	"    if not used[p] then\n"
	"      local m = redis.call('LINDEX', KEYS[1], -p)\n"
	"      if m and string.sub(m, 1, " WIRE(OOBLEX_COMPLETE_ID_LEN) ") == want then at[k] = p; break end\n"
	"    end\n"
	"  end\n"
	"  if not at[k] then return 0 end\n"
	"  used[at[k]] = true\n"
	"  from = at[k] + 1\n"
	"end\n"
	"for i = 3, #KEYS do\n"
	"  redis.call('LPUSH', KEYS[i], ARGV[n + i + 1])\n"
	"  redis.call('EXPIRE', KEYS[i], ARGV[2])\n"
	"end\n"
	"if tonumber(ARGV[3]) > 0 then redis.call('INCRBY', KEYS[2], ARGV[3]) end\n"
	"local in_order = true\n"
	"for k = 1, n do if at[k] ~= k then in_order = false end end\n"
	"if in_order then\n"
	"  redis.call('LTRIM', KEYS[1], 0, -(n + 1))\n"
	"else\n"
	"  for k = 1, n do redis.call('LSET', KEYS[1], -at[k], '" OOBLEX_COMPLETE_TOMBSTONE "') end\n"
	"  redis.call('LREM', KEYS[1], n, '" OOBLEX_COMPLETE_TOMBSTONE "')\n"
	"end\n"
	"return 1\n";
