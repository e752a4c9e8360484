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
	"if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end\n"
	"for i = 3, #KEYS do\n"
	"  redis.call('LPUSH', KEYS[i], ARGV[i + 1])\n"
	"  redis.call('EXPIRE', KEYS[i], ARGV[2])\n"
	"end\n"
	"if tonumber(ARGV[3]) > 0 then redis.call('INCRBY', KEYS[2], ARGV[3]) end\n"
	"redis.call('DEL', KEYS[1])\n"
	"return 1\n";
