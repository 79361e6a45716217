/*
 * guard.c: what every file of the shim that faces Lua uses, and nothing
 * else: the state guard (lmk_getstate), the raising helper (lmk_error),
 * the one mapping from status codes to messages (lmk_code_message), and
 * fork detection. A leaf: it calls into no other file of the shim.
 */
#include "lmk.h"

volatile int lmk_forked = 0;
/* pthread_atfork's child handler (module.c installs it): the child has
 * no Go runtime threads, so nothing may call into Go there. */
void lmk_on_fork_child(void) { lmk_forked = 1; }

/* The raising helper: every runtime failure of the module goes through it. */
int lmk_error(lua_State *L, const char *what) {
    return luaL_error(L, "luamockit: %s", what);
}

/* The one mapping from status codes to messages (their texts:
 * messages.h). Two code spaces use it:
 *  - LMK_CODES_RC, the LMK_* codes (lmk.h): what the Go exports and the
 *    shim's crossings (sched.c) return; internal. Their messages are
 *    raised to Lua through lmk_error ("luamockit: ...").
 *  - LMK_CODES_API, the LUAMOCKIT_* codes (luamockit_api.h): the producer
 *    C API's status codes, a published ABI whose numbers never change.
 *    Their messages are api->strerror's (producer.c), called on any
 *    thread: this is a constant table, read only.
 * The spaces are independent: neither code is ever converted to the
 * other, and their numbers overlap with other meanings (0 is OK in both,
 * but 2 is LMK_EEXISTS and LUAMOCKIT_ETIMEDOUT, 5 LMK_ENOMEM and
 * LUAMOCKIT_EINVAL), so each row names its space. Where both name one
 * condition (ECLOSED, ENOMEM), each side keeps the message that says it
 * from where its caller stands. LMK_OK has no message (nothing raises
 * it); a code with no row gets its space's "unknown" message. */
static const struct {
    unsigned char codes; /* enum lmk_codes */
    int code;
    const char *message;
} messages[] = {
    {LMK_CODES_RC, LMK_ECLOSED, LMK_MSG_CLOSED},
    {LMK_CODES_RC, LMK_EEXISTS, LMK_MSG_EXISTS},
    {LMK_CODES_RC, LMK_ERANGE, LMK_MSG_RANGE},
    {LMK_CODES_RC, LMK_ESYS, LMK_MSG_SYS},
    {LMK_CODES_RC, LMK_ENOMEM, LMK_MSG_NOMEM},
    {LMK_CODES_RC, LMK_ENOTFOUND, LMK_MSG_NOTFOUND},
    {LMK_CODES_RC, LMK_EPANIC, LMK_MSG_PANIC},
    {LMK_CODES_API, LUAMOCKIT_OK, LMK_API_OK},
    {LMK_CODES_API, LUAMOCKIT_ECLOSED, LMK_API_ECLOSED},
    {LMK_CODES_API, LUAMOCKIT_ETIMEDOUT, LMK_API_ETIMEDOUT},
    {LMK_CODES_API, LUAMOCKIT_ECANCELLED, LMK_API_ECANCELLED},
    {LMK_CODES_API, LUAMOCKIT_ECALLBACK, LMK_API_ECALLBACK},
    {LMK_CODES_API, LUAMOCKIT_EINVAL, LMK_API_EINVAL},
    {LMK_CODES_API, LUAMOCKIT_ENOMEM, LMK_API_ENOMEM},
};

const char *lmk_code_message(enum lmk_codes codes, int code) {
    size_t i;
    for (i = 0; i < sizeof messages / sizeof messages[0]; i++)
        if (messages[i].codes == codes && messages[i].code == code) return messages[i].message;
    return codes == LMK_CODES_API ? LMK_API_UNKNOWN : LMK_MSG_UNKNOWN;
}

/* [-0, +0, e] the live state of this universe, or raise. */
lmk_state *lmk_getstate(lua_State *L) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    if (lmk_forked)
        lmk_error(L, LMK_MSG_FORKED_EXEC);
    if (st->q == 0) lmk_error(L, LMK_MSG_CLOSED);
    return st;
}
