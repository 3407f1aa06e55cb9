/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The varlink wire protocol as the sidecar's control socket and vuctl speak
 * it: NUL-terminated JSON objects over a unix stream socket. This header is
 * the whole API of the small vu-varlink library: a framer that cuts a byte
 * stream into messages with a size cap (pure, no I/O, so it is unit-tested
 * and fuzzable), strict JSON parsing on json-c with UTF-8 validation and the
 * error offset, builders and validators for calls and replies, helpers that
 * fetch typed parameters and name the one that is wrong, and a small
 * blocking client for command-line tools.
 *
 * Conventions: functions return 0 (or a documented positive outcome) or a
 * negative errno; ret_* out-parameters come last and are untouched on
 * failure. json_object references passed in are borrowed unless a comment
 * says "takes".
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The largest message either side accepts from its peer, without its NUL. */
#define VARLINK_MESSAGE_MAX (1024U * 1024U)
/* A client accepts larger replies: ring dumps of big queues are long. */
#define VARLINK_REPLY_MAX (16U * 1024U * 1024U)
/* Nesting depth the JSON parser allows before refusing a message. */
#define VARLINK_JSON_DEPTH_MAX 64

/* Standard errors of the org.varlink.service interface. */
#define VARLINK_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_METHOD_NOT_IMPLEMENTED "org.varlink.service.MethodNotImplemented"
#define VARLINK_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PERMISSION_DENIED "org.varlink.service.PermissionDenied"
#define VARLINK_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"
#define VARLINK_SERVICE_GET_INFO "org.varlink.service.GetInfo"
#define VARLINK_SERVICE_GET_INTERFACE_DESCRIPTION "org.varlink.service.GetInterfaceDescription"

/* ---- framing ----------------------------------------------------------- */

/*
 * Collects bytes from a stream and hands out complete messages. The buffer
 * never grows beyond max_message + 1 bytes, so a peer that never sends a
 * NUL cannot make us allocate without bound.
 */
typedef struct VarlinkFramer {
        char *buf;
        size_t allocated;
        size_t start;   /* first byte not yet handed out */
        size_t end;     /* one past the last byte received */
        size_t scanned; /* bytes from start already searched for NUL */
        size_t max_message;
} VarlinkFramer;

/* Prepare @f; @max_message is the longest message accepted (without its NUL). */
void varlink_framer_init(VarlinkFramer *f, size_t max_message);
/* Free the buffer; @f may be reused after varlink_framer_init(). */
void varlink_framer_done(VarlinkFramer *f);

/*
 * Make room to receive into: on success *ret_ptr and *ret_len describe free
 * space (at least 1 byte, at most @want) to fill, then call
 * varlink_framer_commit() with what was written. Messages handed out
 * before become invalid. Returns 0, -E2BIG if an unterminated message
 * already fills the cap, or -ENOMEM.
 */
int varlink_framer_reserve(VarlinkFramer *f, size_t want, char **ret_ptr, size_t *ret_len);
void varlink_framer_commit(VarlinkFramer *f, size_t n);

/* reserve + copy + commit; -E2BIG if @len bytes do not fit under the cap. */
int varlink_framer_feed(VarlinkFramer *f, const void *data, size_t len);

/*
 * The next complete message. Returns 1 and points *ret_msg at it (NUL
 * terminated, valid until the next reserve/feed/done), *ret_len without the
 * NUL; 0 if no complete message is buffered; -E2BIG if the message being
 * received is already longer than the cap (the stream cannot be trusted
 * after this: close it).
 */
int varlink_framer_next(VarlinkFramer *f, const char **ret_msg, size_t *ret_len);

/* Bytes received but not yet handed out as messages. */
size_t varlink_framer_pending(const VarlinkFramer *f);

/* ---- JSON ------------------------------------------------------------- */

typedef struct VarlinkParseError {
        size_t offset;    /* byte offset in the message where the problem is */
        char reason[160]; /* what is wrong, in words: "duplicate key 'method'" */
} VarlinkParseError;

/*
 * Parse @len bytes of @text as one JSON value (RFC 8259, strictly): valid
 * UTF-8, double-quoted strings only, no NaN or Infinity (json-c takes
 * them), no bare words but true, false and null, no key twice in one
 * object (json-c keeps the last silently: {"method":A,"method":B} would
 * call B), nesting at most VARLINK_JSON_DEPTH_MAX, nothing but whitespace
 * after the value. On success *ret owns the value. On -EBADMSG, *ret_error
 * (if not NULL) says where and why. Returns 0, -EBADMSG or -ENOMEM.
 */
int varlink_json_parse(const char *text, size_t len, json_object **ret, VarlinkParseError *ret_error);

/* "object", "array", "string", "number", "boolean" or "null": for messages about a value's type. */
const char *varlink_json_type_name(json_object *o);

/* ---- messages ---------------------------------------------------------- */

enum {
        VARLINK_CALL_MORE = 1 << 0,   /* the caller accepts several replies ("continues") */
        VARLINK_CALL_ONEWAY = 1 << 1, /* the caller wants no reply */
};

/* A call as received; all pointers are borrowed from the parsed message. */
typedef struct VarlinkCall {
        const char *method;      /* "io.vusidecar.GetStatus" */
        json_object *parameters; /* always an object (an empty one when absent) */
        unsigned flags;          /* VARLINK_CALL_* */
} VarlinkCall;

/*
 * Validate a received call and describe it. @msg must stay alive while
 * *ret is used (an empty "parameters" object is added to it when absent).
 * Returns 0, or -EBADMSG with *ret_bad_field (if not NULL) naming the field
 * that is missing or of the wrong type ("method", "parameters", "more",
 * "oneway", "upgrade").
 */
int varlink_call_parse(json_object *msg, VarlinkCall *ret, const char **ret_bad_field);

/* Whether @name has the form of a qualified method or error name: "a.b.Name". */
bool varlink_name_is_valid(const char *name);

/*
 * Build a call message. @parameters may be NULL (no parameters); a
 * reference is taken on it, not stolen. Returns 0, -EINVAL for a bad
 * method name, -ENOMEM.
 */
int varlink_call_build(const char *method, json_object *parameters, unsigned flags, json_object **ret);

/* Build {"parameters":…[,"continues":true]}. Takes @parameters (NULL: {}). NULL on OOM. */
json_object *varlink_reply_build(json_object *parameters, bool continues);
/* Build {"error":…,"parameters":…}. Takes @parameters (NULL: {}). NULL on OOM. */
json_object *varlink_error_build(const char *error, json_object *parameters);

/*
 * Serialise @msg compactly and append the terminating NUL. *ret (freed by
 * the caller) holds *ret_len bytes including the NUL. Returns 0 or -ENOMEM.
 */
int varlink_message_serialize(json_object *msg, char **ret, size_t *ret_len);

/* A reply as received. varlink_reply_done() releases what it owns. */
typedef struct VarlinkReply {
        json_object *parameters; /* owned reference; an object */
        char *error;             /* owned; NULL for a success reply */
        bool continues;
} VarlinkReply;

/* Validate a received reply and copy its parts into *ret. Returns 0 or -EBADMSG / -ENOMEM. */
int varlink_reply_parse(json_object *msg, VarlinkReply *ret);
void varlink_reply_done(VarlinkReply *r);

/* ---- typed parameters ------------------------------------------------- */

/*
 * Fetch parameter @name from @params. A missing or null parameter is
 * -ENOENT if @required, otherwise 0 with *ret untouched. A parameter of
 * the wrong type or out of range is -EINVAL. The string is borrowed.
 */
int varlink_param_string(json_object *params, const char *name, bool required, const char **ret);
int varlink_param_bool(json_object *params, const char *name, bool required, bool *ret);
int varlink_param_int64(json_object *params, const char *name, bool required, int64_t min, int64_t max,
                        int64_t *ret);
int varlink_param_uint64(json_object *params, const char *name, bool required, uint64_t *ret);

/*
 * Check that @params names only parameters listed in @known (NULL
 * terminated). Returns 0, or -EINVAL with *ret_unknown (borrowed from
 * @params) naming the first stranger.
 */
int varlink_params_check_known(json_object *params, const char *const *known, const char **ret_unknown);

/* ---- interface descriptions ------------------------------------------- */

/* A parsed varlink interface description (the IDL GetInterfaceDescription returns). */
typedef struct VarlinkIdl VarlinkIdl;

/* Parse @text. Returns 0, -EBADMSG for text outside the grammar, or -ENOMEM. */
int varlink_idl_parse(const char *text, VarlinkIdl **ret);
VarlinkIdl *varlink_idl_free(VarlinkIdl *idl);
/* The interface's name ("io.vusidecar"), owned by @idl. */
const char *varlink_idl_get_interface(const VarlinkIdl *idl);

typedef enum VarlinkIdlWhat {
        VARLINK_IDL_METHOD_INPUT,  /* a call's parameters */
        VARLINK_IDL_METHOD_OUTPUT, /* a reply's parameters */
        VARLINK_IDL_ERROR,         /* an error's parameters */
} VarlinkIdlWhat;

enum {
        VARLINK_IDL_ALLOW_UNKNOWN = 1 << 0, /* accept fields the IDL does not declare (a newer peer) */
};

/*
 * Check @parameters against method or error @member ("Ping" or "io.vusidecar.Ping") of @idl:
 * required fields present, every field of its declared type, and (without
 * VARLINK_IDL_ALLOW_UNKNOWN) no undeclared field. Returns 0; -ENOENT if @idl has no such member
 * (or the name is another interface's); -EBADMSG with *ret_problem (if not NULL; freed by the
 * caller) saying where and what, e.g. "devices[0]: field 'id' is missing"; or -ENOMEM.
 */
int varlink_idl_validate(const VarlinkIdl *idl, VarlinkIdlWhat what, const char *member,
                         json_object *parameters, unsigned flags, char **ret_problem);

static inline void varlink_idl_freep(VarlinkIdl **idl) {
        varlink_idl_free(*idl);
}

/* ---- client ----------------------------------------------------------- */

typedef struct VarlinkClient VarlinkClient;

/*
 * Connect to the varlink server listening on unix socket @path. The
 * client's fd is O_CLOEXEC and owned by the client. Returns 0, -EINVAL for
 * a path too long for sockaddr_un, or the connect() errno.
 */
int varlink_client_connect(const char *path, VarlinkClient **ret);
/* Close the connection and free; NULL is fine; returns NULL. */
VarlinkClient *varlink_client_free(VarlinkClient *c);
/* The socket fd, still owned by the client (to poll on it). */
int varlink_client_get_fd(const VarlinkClient *c);

/* Send one call. Returns 0, -EINVAL for a bad method name, or a send() errno (-EPIPE…). */
int varlink_client_send(VarlinkClient *c, const char *method, json_object *parameters, unsigned flags);

/*
 * Wait up to @timeout_ms (-1: forever) for the next reply. Returns 0 and
 * fills *ret, -ETIMEDOUT, -ECONNRESET if the server closed the connection,
 * -EBADMSG for a reply that is not valid varlink, -E2BIG for a reply over
 * VARLINK_REPLY_MAX, -EINTR if a signal interrupted the wait.
 */
int varlink_client_receive(VarlinkClient *c, int timeout_ms, VarlinkReply *ret);

/*
 * varlink_client_send() then varlink_client_receive(). When the send fails because the server
 * already closed (-EPIPE, -ECONNRESET), a reply it sent before closing (TooManyClients) is still
 * returned.
 */
int varlink_client_call(VarlinkClient *c, const char *method, json_object *parameters, int timeout_ms,
                        VarlinkReply *ret);

/* ---- paths ------------------------------------------------------------ */

/*
 * The directory the sidecar puts its sockets in when not told otherwise:
 * $VU_SIDECAR_RUNTIME_DIR, else $RUNTIME_DIRECTORY (systemd's
 * RuntimeDirectory=), else /run/vusidecar for root, else
 * $XDG_RUNTIME_DIR/vusidecar. Returns 0 with a newly allocated string, or
 * -ENXIO if none applies (not root and no XDG_RUNTIME_DIR), -ENOMEM.
 */
int varlink_default_runtime_dir(char **ret);

/* $VU_SIDECAR_CONTROL if set (and not "none"), else RUNTIME_DIR/control.sock. Same returns. */
int varlink_default_control_path(char **ret);

/* For _cleanup_(). */
static inline void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
static inline void varlink_client_freep(VarlinkClient **c) {
        varlink_client_free(*c);
}
