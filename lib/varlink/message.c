/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Varlink messages as JSON: strict parsing of what a peer sent (valid
 * UTF-8, bounded depth, no trailing garbage, error offset reported), the
 * shape checks for calls and replies, builders for what we send, and typed
 * parameter access that names the parameter at fault. Everything a peer
 * sends passes through here before anyone acts on it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "varlink.h"

int varlink_json_parse(const char *text, size_t len, json_object **ret, VarlinkParseError *ret_error) {
        struct json_tokener *tok;
        json_object *obj;
        enum json_tokener_error jerr;
        size_t end;

        if (len > INT32_MAX) {
                if (ret_error)
                        *ret_error = (VarlinkParseError){.offset = 0, .reason = "message too long"};
                return -EBADMSG;
        }

        /* json-c accepts single-quoted strings even in strict mode; JSON does not. */
        for (size_t i = 0, in_string = 0; i < len; i++) {
                if (in_string) {
                        if (text[i] == '\\')
                                i++;
                        else if (text[i] == '"')
                                in_string = 0;
                } else if (text[i] == '"')
                        in_string = 1;
                else if (text[i] == '\'') {
                        if (ret_error)
                                *ret_error =
                                        (VarlinkParseError){.offset = i, .reason = "single-quoted string"};
                        return -EBADMSG;
                }
        }

        tok = json_tokener_new_ex(VARLINK_JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

        obj = json_tokener_parse_ex(tok, text, (int) len);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);

        if (!obj && jerr == json_tokener_continue) {
                /* The text ended inside a value. */
                json_tokener_free(tok);
                if (ret_error)
                        *ret_error =
                                (VarlinkParseError){.offset = len, .reason = "unexpected end of message"};
                return -EBADMSG;
        }
        if (!obj || jerr != json_tokener_success) {
                /* A bare "null" parses to NULL with success: refuse it too. */
                const char *reason =
                        jerr == json_tokener_success ? "not a JSON object" : json_tokener_error_desc(jerr);
                json_object_put(obj);
                json_tokener_free(tok);
                if (ret_error)
                        *ret_error = (VarlinkParseError){.offset = end, .reason = reason};
                return -EBADMSG;
        }
        json_tokener_free(tok);

        for (size_t i = end; i < len; i++)
                if (!strchr(" \t\r\n", text[i])) {
                        json_object_put(obj);
                        if (ret_error)
                                *ret_error = (VarlinkParseError){
                                        .offset = i, .reason = "trailing data after the JSON value"};
                        return -EBADMSG;
                }

        *ret = obj;
        return 0;
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
