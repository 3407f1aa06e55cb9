/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Varlink messages as JSON: strict parsing of what a peer sent (valid
 * UTF-8, bounded depth, no trailing garbage, error offset reported), the
 * shape checks for calls and replies, builders for what we send, and typed
 * parameter access that names the parameter at fault. Everything a peer
 * sends passes through here before anyone acts on it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "varlink.h"

static int parse_error(VarlinkParseError *ret_error, size_t offset, const char *format, ...) _printf_(3, 4);
static int parse_error(VarlinkParseError *ret_error, size_t offset, const char *format, ...) {
        va_list ap;

        if (ret_error) {
                ret_error->offset = offset;
                va_start(ap, format);
                vsnprintf(ret_error->reason, sizeof(ret_error->reason), format, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

static bool is_word_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * What json-c lets through although JSON does not have it, found before
 * json-c sees the text so the offset points at the culprit: single-quoted
 * strings, and bare words other than true, false and null (NaN, Infinity,
 * a string someone forgot to quote). Letters right after a digit or a dot
 * are a number's exponent ("1e5"); json-c judges those.
 */
static int json_check_lexical(const char *text, size_t len, VarlinkParseError *ret_error) {
        bool in_string = false;

        for (size_t i = 0; i < len; i++) {
                char c = text[i];
                size_t n;

                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_string = false;
                        else if ((unsigned char) c < 0x20)
                                return parse_error(ret_error, i,
                                                   "invalid JSON: control character 0x%02x in a string (it "
                                                   "must be escaped, e.g. \\n or \\u%04x)",
                                                   (unsigned) c, (unsigned) c);
                        continue;
                }
                if (c == '.' && i > 0 && text[i - 1] >= '0' && text[i - 1] <= '9' &&
                    !(i + 1 < len && text[i + 1] >= '0' && text[i + 1] <= '9'))
                        return parse_error(ret_error, i,
                                           "invalid JSON: invalid number (a digit must follow the decimal "
                                           "point)");
                if (c == '"') {
                        in_string = true;
                        continue;
                }
                if (c == '\'')
                        return parse_error(
                                ret_error, i,
                                "invalid JSON: single-quoted string (JSON strings take double quotes)");
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                        continue;
                if (i > 0 && ((text[i - 1] >= '0' && text[i - 1] <= '9') || text[i - 1] == '.'))
                        continue; /* an exponent */
                for (n = 0; i + n < len && is_word_char(text[i + n]); n++)
                        ;
                if ((n == 4 && memcmp(text + i, "true", 4) == 0) ||
                    (n == 5 && memcmp(text + i, "false", 5) == 0) ||
                    (n == 4 && memcmp(text + i, "null", 4) == 0)) {
                        i += n - 1;
                        continue;
                }
                if ((n == 3 && strncasecmp(text + i, "nan", 3) == 0) ||
                    (n == 8 && strncasecmp(text + i, "infinity", 8) == 0) ||
                    (n == 3 && strncasecmp(text + i, "inf", 3) == 0))
                        return parse_error(ret_error, i > 0 && text[i - 1] == '-' ? i - 1 : i,
                                           "invalid JSON: %s%.*s is not a JSON number (JSON has no NaN or "
                                           "Infinity)",
                                           i > 0 && text[i - 1] == '-' ? "-" : "", (int) n, text + i);
                return parse_error(ret_error, i,
                                   "invalid JSON: unexpected word '%.*s%s' (the only bare words are true, "
                                   "false and null; strings take double quotes)",
                                   (int) MIN(n, (size_t) 32), text + i, n > 32 ? "…" : "");
        }
        return 0;
}

/* One key of an object being checked for duplicates: the text between its quotes, decoded. */
typedef struct JsonKey {
        const char *s;
        size_t len;
        size_t offset; /* of its opening quote */
        char *decoded; /* owned when the key had escapes; s points into it */
} JsonKey;

typedef struct JsonKeyFrame {
        bool object;
        bool want_key; /* the next string in this object is a key */
        JsonKey *keys;
        size_t n_keys, allocated;
} JsonKeyFrame;

static void key_frame_done(JsonKeyFrame *f) {
        for (size_t i = 0; i < f->n_keys; i++)
                free(f->keys[i].decoded);
        free(f->keys);
        *f = (JsonKeyFrame){};
}

static int key_compare(const void *a, const void *b) {
        const JsonKey *x = a, *y = b;
        int r;

        r = memcmp(x->s, y->s, MIN(x->len, y->len));
        if (r != 0)
                return r;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Add the key whose quoted text is text[start..end] (quotes included) to @f. */
static int key_frame_add(JsonKeyFrame *f, const char *text, size_t start, size_t end) {
        JsonKey k = {.s = text + start + 1, .len = end - start - 1, .offset = start};

        if (memchr(k.s, '\\', k.len)) {
                /* Escapes: "\u006dethod" is "method". The text is valid JSON already. */
                struct json_tokener *tok = json_tokener_new();
                json_object *o;

                if (!tok)
                        return -ENOMEM;
                o = json_tokener_parse_ex(tok, text + start, (int) (end - start + 1));
                json_tokener_free(tok);
                if (!o || !json_object_is_type(o, json_type_string)) {
                        json_object_put(o);
                        return -EBADMSG;
                }
                k.len = (size_t) json_object_get_string_len(o);
                k.decoded = malloc(k.len + 1);
                if (!k.decoded) {
                        json_object_put(o);
                        return -ENOMEM;
                }
                memcpy(k.decoded, json_object_get_string(o), k.len + 1);
                k.s = k.decoded;
                json_object_put(o);
        }
        if (f->n_keys == f->allocated) {
                size_t n = f->allocated ? f->allocated * 2 : 8;
                JsonKey *p = realloc(f->keys, n * sizeof(*p));

                if (!p) {
                        free(k.decoded);
                        return -ENOMEM;
                }
                f->keys = p;
                f->allocated = n;
        }
        f->keys[f->n_keys++] = k;
        return 0;
}

/*
 * Refuse an object that names a key twice. Runs on text json-c accepted,
 * so strings are terminated and nesting is within VARLINK_JSON_DEPTH_MAX.
 */
static int json_check_duplicate_keys(const char *text, size_t len, VarlinkParseError *ret_error) {
        JsonKeyFrame frames[VARLINK_JSON_DEPTH_MAX + 2] = {};
        size_t depth = 0; /* frames[0] is the top level, never an object */
        int r = 0;

        for (size_t i = 0; i < len && r == 0; i++) {
                JsonKeyFrame *f = &frames[depth];

                switch (text[i]) {
                case '"': {
                        size_t j = i + 1;

                        while (j < len && text[j] != '"')
                                j += text[j] == '\\' ? 2 : 1;
                        if (j >= len)
                                return parse_error(ret_error, i, "invalid JSON: unterminated string");
                        if (f->object && f->want_key) {
                                r = key_frame_add(f, text, i, j);
                                f->want_key = false;
                        }
                        i = j;
                        break;
                }
                case '{':
                case '[':
                        if (depth + 1 >= ELEMENTSOF(frames)) {
                                r = parse_error(ret_error, i, "invalid JSON: nested too deeply");
                                break;
                        }
                        frames[++depth] =
                                (JsonKeyFrame){.object = text[i] == '{', .want_key = text[i] == '{'};
                        break;
                case '}':
                case ']':
                        if (depth == 0)
                                break;
                        if (f->object && f->n_keys > 1) {
                                size_t dup = SIZE_MAX;
                                const JsonKey *which = NULL;

                                qsort(f->keys, f->n_keys, sizeof(JsonKey), key_compare);
                                /* Sorted by key, then offset: the later of two equal keys is the duplicate.
                                 */
                                for (size_t k = 1; k < f->n_keys; k++)
                                        if (f->keys[k].len == f->keys[k - 1].len &&
                                            memcmp(f->keys[k].s, f->keys[k - 1].s, f->keys[k].len) == 0 &&
                                            f->keys[k].offset < dup) {
                                                dup = f->keys[k].offset;
                                                which = &f->keys[k];
                                        }
                                if (which) {
                                        bool printable = true;

                                        for (size_t k = 0; k < which->len; k++)
                                                if ((unsigned char) which->s[k] < 0x20 ||
                                                    which->s[k] == 0x7f)
                                                        printable = false;
                                        r = parse_error(ret_error, dup,
                                                        "invalid JSON: duplicate key '%.*s%s' in an object "
                                                        "(each key may appear once)",
                                                        printable ? (int) MIN(which->len, (size_t) 48) : 1,
                                                        printable ? which->s : "?",
                                                        printable && which->len > 48 ? "…" : "");
                                }
                        }
                        key_frame_done(f);
                        depth--;
                        break;
                case ',':
                        if (f->object)
                                f->want_key = true;
                        break;
                default:
                        break;
                }
        }
        for (size_t d = 0; d < ELEMENTSOF(frames); d++)
                key_frame_done(&frames[d]);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && ret_error && !ret_error->reason[0])
                return parse_error(ret_error, 0, "invalid JSON");
        return r;
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define DEPTH_MAX_TEXT STR(VARLINK_JSON_DEPTH_MAX)

/* json-c's words for its errors, as a reader of our error reply needs them. */
static const char *tokener_error_reason(enum json_tokener_error e) {
        switch (e) {
        case json_tokener_error_depth:
                return "nested too deeply (at most " DEPTH_MAX_TEXT " levels)";
        case json_tokener_error_parse_utf8_string:
                return "invalid UTF-8 in a string";
        case json_tokener_error_parse_string:
                return "invalid string (a control character, or a bad escape)";
        case json_tokener_error_parse_object_key_name:
                return "an object key must be a double-quoted string";
        case json_tokener_error_parse_object_key_sep:
                return "':' expected after an object key";
        case json_tokener_error_parse_object_value_sep:
                return "',' or '}' expected after an object member";
        case json_tokener_error_parse_array:
                return "',' or ']' expected after an array element";
        case json_tokener_error_parse_number:
                return "invalid number";
        case json_tokener_error_parse_unexpected:
        case json_tokener_error_parse_null:
        case json_tokener_error_parse_boolean:
                return "unexpected character";
        default:
                return json_tokener_error_desc(e);
        }
}

int varlink_json_parse(const char *text, size_t len, json_object **ret, VarlinkParseError *ret_error) {
        struct json_tokener *tok;
        json_object *obj;
        enum json_tokener_error jerr;
        size_t end;
        int r;

        if (ret_error)
                *ret_error = (VarlinkParseError){};
        if (len > INT32_MAX)
                return parse_error(ret_error, 0, "message too long");

        end = 0;
        while (end < len && strchr(" \t\r\n", text[end]) && text[end])
                end++;
        if (end == len)
                return parse_error(ret_error, len, "empty message: a JSON value was expected");

        r = json_check_lexical(text, len, ret_error);
        if (r < 0)
                return r;

        tok = json_tokener_new_ex(VARLINK_JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

        obj = json_tokener_parse_ex(tok, text, (int) len);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        if (!obj && jerr == json_tokener_continue) {
                /* A number at the very end ("42") waits for a byte that ends it: give it one. */
                obj = json_tokener_parse_ex(tok, " ", 1);
                jerr = json_tokener_get_error(tok);
                if (!obj && jerr == json_tokener_continue) {
                        json_tokener_free(tok);
                        return parse_error(ret_error, len,
                                           "invalid JSON: unexpected end of message (an unclosed string, "
                                           "object or array)");
                }
                end = len;
        }
        if (!obj || jerr != json_tokener_success) {
                bool null = jerr == json_tokener_success;

                json_object_put(obj);
                json_tokener_free(tok);
                /* A bare "null" parses to NULL with success: refuse it too, it is no message. */
                if (null)
                        return parse_error(ret_error, 0, "the message is null, not a JSON object");
                if (end < len && (unsigned char) text[end] >= 0x20 && (unsigned char) text[end] < 0x7f)
                        return parse_error(ret_error, end, "invalid JSON: %s ('%c')",
                                           tokener_error_reason(jerr), text[end]);
                return parse_error(ret_error, end, "invalid JSON: %s", tokener_error_reason(jerr));
        }
        json_tokener_free(tok);

        for (size_t i = end; i < len; i++)
                if (!strchr(" \t\r\n", text[i]) || !text[i]) {
                        json_object_put(obj);
                        return parse_error(ret_error, i,
                                           "trailing data after the JSON value (one message is one JSON "
                                           "value, then a NUL)");
                }

        r = json_check_duplicate_keys(text, end, ret_error);
        if (r < 0) {
                json_object_put(obj);
                return r;
        }

        *ret = obj;
        return 0;
}

const char *varlink_json_type_name(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "boolean";
        case json_type_double:
        case json_type_int:
                return "number";
        case json_type_object:
                return "object";
        case json_type_array:
                return "array";
        case json_type_string:
                return "string";
        default:
                return "value";
        }
}

bool varlink_name_is_valid(const char *name) {
        const char *dot;
        size_t n;

        /* interface: [A-Za-z]([-]*[A-Za-z0-9])* segments joined by '.', at least two;
         * member: [A-Z][A-Za-z0-9]*. Checked loosely but without ever allowing
         * anything that could confuse a log line or a lookup. */
        if (!name)
                return false;
        n = strlen(name);
        if (n < 3 || n > 255)
                return false;
        dot = strrchr(name, '.');
        if (!dot || dot == name || dot[1] < 'A' || dot[1] > 'Z')
                return false;
        for (const char *p = dot + 1; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
                        return false;
        if (!memchr(name, '.', (size_t) (dot - name)))
                return false; /* the interface needs at least two segments */
        for (const char *p = name; p < dot; p++) {
                bool alpha = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z');
                bool digit = *p >= '0' && *p <= '9';

                if (*p == '.') {
                        if (p == name || p[-1] == '.' || p[-1] == '-' || p[1] == '.' || p[1] == '-')
                                return false;
                } else if (*p == '-') {
                        if (p == name)
                                return false;
                } else if (!alpha && !digit)
                        return false;
                if (p == name && !alpha)
                        return false;
        }
        return true;
}

static int field_bool(json_object *msg, const char *key, bool *ret) {
        json_object *v;

        if (!json_object_object_get_ex(msg, key, &v) || json_object_is_type(v, json_type_null)) {
                *ret = false;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EBADMSG;
        *ret = json_object_get_boolean(v);
        return 0;
}

int varlink_call_parse(json_object *msg, VarlinkCall *ret, const char **ret_bad_field) {
        json_object *method, *params = NULL;
        bool more, oneway, upgrade;
        const char *bad = NULL;

        if (!json_object_is_type(msg, json_type_object))
                bad = "message";
        else if (!json_object_object_get_ex(msg, "method", &method) ||
                 !json_object_is_type(method, json_type_string) ||
                 strlen(json_object_get_string(method)) != (size_t) json_object_get_string_len(method))
                bad = "method";
        else if (json_object_object_get_ex(msg, "parameters", &params) &&
                 !json_object_is_type(params, json_type_object) &&
                 !json_object_is_type(params, json_type_null))
                bad = "parameters";
        else if (field_bool(msg, "more", &more) < 0)
                bad = "more";
        else if (field_bool(msg, "oneway", &oneway) < 0)
                bad = "oneway";
        else if (field_bool(msg, "upgrade", &upgrade) < 0)
                bad = "upgrade";
        else if (more && oneway)
                bad = "oneway"; /* a call cannot both want a stream and no reply */
        if (bad) {
                if (ret_bad_field)
                        *ret_bad_field = bad;
                return -EBADMSG;
        }

        if (!params || json_object_is_type(params, json_type_null)) {
                params = json_object_new_object();
                if (!params)
                        return -ENOMEM;
                if (json_object_object_add(msg, "parameters", params) < 0) {
                        json_object_put(params);
                        return -ENOMEM;
                }
        }

        *ret = (VarlinkCall){
                .method = json_object_get_string(method),
                .parameters = params,
                .flags = (more ? VARLINK_CALL_MORE : 0) | (oneway ? VARLINK_CALL_ONEWAY : 0),
        };
        /* "upgrade" is accepted by the shape check and refused by the
         * server as a method it does not implement that way. */
        (void) upgrade;
        return 0;
}

int varlink_call_build(const char *method, json_object *parameters, unsigned flags, json_object **ret) {
        _cleanup_(json_object_putp) json_object *msg = NULL;

        if (!varlink_name_is_valid(method))
                return -EINVAL;
        if ((flags & VARLINK_CALL_MORE) && (flags & VARLINK_CALL_ONEWAY))
                return -EINVAL;

        msg = json_object_new_object();
        if (!msg)
                return -ENOMEM;
        if (json_object_object_add(msg, "method", json_object_new_string(method)) < 0)
                return -ENOMEM;
        if (parameters && json_object_object_add(msg, "parameters", json_object_get(parameters)) < 0)
                return -ENOMEM;
        if ((flags & VARLINK_CALL_MORE) &&
            json_object_object_add(msg, "more", json_object_new_boolean(1)) < 0)
                return -ENOMEM;
        if ((flags & VARLINK_CALL_ONEWAY) &&
            json_object_object_add(msg, "oneway", json_object_new_boolean(1)) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(msg);
        return 0;
}

json_object *varlink_reply_build(json_object *parameters, bool continues) {
        json_object *msg = json_object_new_object();

        if (!parameters)
                parameters = json_object_new_object();
        if (!msg || !parameters) {
                json_object_put(msg);
                json_object_put(parameters);
                return NULL;
        }
        if (json_object_object_add(msg, "parameters", parameters) < 0) {
                json_object_put(parameters);
                json_object_put(msg);
                return NULL;
        }
        if (continues && json_object_object_add(msg, "continues", json_object_new_boolean(1)) < 0) {
                json_object_put(msg);
                return NULL;
        }
        return msg;
}

json_object *varlink_error_build(const char *error, json_object *parameters) {
        json_object *msg = varlink_reply_build(parameters, false);

        if (!msg)
                return NULL;
        if (json_object_object_add(msg, "error", json_object_new_string(error)) < 0) {
                json_object_put(msg);
                return NULL;
        }
        return msg;
}

int varlink_message_serialize(json_object *msg, char **ret, size_t *ret_len) {
        const char *s;
        size_t len;
        char *copy;

        s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                              &len);
        if (!s)
                return -ENOMEM;
        copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, s, len);
        copy[len] = 0;
        *ret = copy;
        *ret_len = len + 1;
        return 0;
}

int varlink_reply_parse(json_object *msg, VarlinkReply *ret) {
        json_object *params = NULL, *error = NULL;
        bool continues;
        char *e = NULL;

        if (!json_object_is_type(msg, json_type_object))
                return -EBADMSG;
        if (json_object_object_get_ex(msg, "parameters", &params) &&
            !json_object_is_type(params, json_type_object) && !json_object_is_type(params, json_type_null))
                return -EBADMSG;
        if (json_object_object_get_ex(msg, "error", &error) && !json_object_is_type(error, json_type_null)) {
                if (!json_object_is_type(error, json_type_string))
                        return -EBADMSG;
                e = strdup(json_object_get_string(error));
                if (!e)
                        return -ENOMEM;
        }
        if (field_bool(msg, "continues", &continues) < 0) {
                free(e);
                return -EBADMSG;
        }

        if (params && json_object_is_type(params, json_type_object))
                json_object_get(params);
        else
                params = json_object_new_object();
        if (!params) {
                free(e);
                return -ENOMEM;
        }

        *ret = (VarlinkReply){
                .parameters = params,
                .error = e,
                .continues = continues,
        };
        return 0;
}

void varlink_reply_done(VarlinkReply *r) {
        if (!r)
                return;
        json_object_put(r->parameters);
        free(r->error);
        *r = (VarlinkReply){};
}

/* ---- typed parameters ------------------------------------------------- */

static int param_get(json_object *params, const char *name, bool required, json_object **ret) {
        json_object *v;

        if (!params || !json_object_object_get_ex(params, name, &v) ||
            json_object_is_type(v, json_type_null))
                return required ? -ENOENT : 0;
        *ret = v;
        return 1;
}

int varlink_param_string(json_object *params, const char *name, bool required, const char **ret) {
        json_object *v;
        int r;

        r = param_get(params, name, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_string))
                return -EINVAL;
        /* An embedded \u0000 would make the C string lie about its length. */
        if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return -EINVAL;
        *ret = json_object_get_string(v);
        return 0;
}

int varlink_param_bool(json_object *params, const char *name, bool required, bool *ret) {
        json_object *v;
        int r;

        r = param_get(params, name, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_boolean))
                return -EINVAL;
        *ret = json_object_get_boolean(v);
        return 0;
}

int varlink_param_int64(json_object *params, const char *name, bool required, int64_t min, int64_t max,
                        int64_t *ret) {
        json_object *v;
        int64_t i;
        int r;

        r = param_get(params, name, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        /* json-c saturates out-of-range numbers; errno tells. */
        errno = 0;
        i = json_object_get_int64(v);
        if (errno != 0 || i < min || i > max)
                return -EINVAL;
        *ret = i;
        return 0;
}

int varlink_param_uint64(json_object *params, const char *name, bool required, uint64_t *ret) {
        json_object *v;
        const char *s;
        int r;

        r = param_get(params, name, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        /* Negative numbers must not wrap into huge ones. */
        s = json_object_get_string(v);
        if (s && s[0] == '-')
                return -EINVAL;
        errno = 0;
        *ret = json_object_get_uint64(v);
        if (errno != 0)
                return -EINVAL;
        return 0;
}

int varlink_params_check_known(json_object *params, const char *const *known, const char **ret_unknown) {
        if (!params)
                return 0;
        json_object_object_foreach(params, key, val) {
                bool found = false;

                (void) val;
                for (const char *const *k = known; *k; k++)
                        if (strcmp(*k, key) == 0) {
                                found = true;
                                break;
                        }
                if (!found) {
                        if (ret_unknown)
                                *ret_unknown = key;
                        return -EINVAL;
                }
        }
        return 0;
}
